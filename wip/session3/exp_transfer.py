import sys, time, torch
torch.set_num_threads(1)
from vit_edu.model import ViT
from vit_edu.transfer import PRETRAIN_RECIPE, run_transfer, TRANSFER_RECIPE
from vit_edu.transfer_data import downstream_data
from dataclasses import replace
ckpt=sys.argv[1]; methods=sys.argv[2].split(','); per_class=[None if k=='all' else int(k) for k in sys.argv[3].split(',')]
seeds=[int(s) for s in sys.argv[4].split(',')]; size=int(sys.argv[5]) if len(sys.argv)>5 else 32
P=int(sys.argv[6]) if len(sys.argv)>6 else 8
m=ViT(**{**PRETRAIN_RECIPE['model'],'patch_size':P}); m.load_state_dict(torch.load(ckpt)); m.eval()
data=downstream_data(size)
for k in per_class:
  for meth in methods:
    for s in seeds:
      r=run_transfer(meth,k,s,image_size=size,data=data,pretrained=m)
      print(meth,size,k,s,round(r['test_accuracy'],3),round(r['train_accuracy'],3),round(r['seconds'],1),flush=True)
