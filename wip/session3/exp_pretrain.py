import sys, time, torch
torch.set_num_threads(1)
from vit_edu.transfer_data import make_glyph_shapes
from vit_edu.model import ViT
from vit_edu.train import train
P=int(sys.argv[1]); n=int(sys.argv[2]); epochs=int(sys.argv[3]); lr=float(sys.argv[4]); out=sys.argv[5]
x,y=make_glyph_shapes(n, seed=100); xt,yt=make_glyph_shapes(2000, seed=101)
m=ViT(image_size=32,patch_size=P,channels=3,num_classes=12,dim=64,depth=4,heads=4,mlp_dim=128,seed=0)
t=time.time()
h=train(m,x,y,xt,yt,epochs=epochs,batch_size=128,lr=lr,weight_decay=0.05,warmup_epochs=1,max_shift=0,seed=0,device="cpu",progress=False)
print([round(a,3) for a in h.test_accuracy], [round(a,3) for a in h.train_loss], time.time()-t, flush=True)
torch.save(m.state_dict(), out)
