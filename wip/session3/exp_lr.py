import sys, torch
torch.set_num_threads(1)
from dataclasses import replace
from vit_edu.model import ViT
from vit_edu.transfer import PRETRAIN_RECIPE, run_transfer, TRANSFER_RECIPE
from vit_edu.transfer_data import downstream_data
m=ViT(**PRETRAIN_RECIPE['model']); m.load_state_dict(torch.load(sys.argv[1])); m.eval()
data=downstream_data(32)
for spec in sys.argv[2:]:
  meth,lr,steps=spec.split(':')
  rec=replace(TRANSFER_RECIPE, steps=int(steps), lr={**TRANSFER_RECIPE.lr, meth: float(lr)})
  r=run_transfer(meth,20,0,data=data,pretrained=m,recipe=rec)
  print(spec, round(r['test_accuracy'],3), round(r['train_accuracy'],3), round(r['seconds'],1), flush=True)
