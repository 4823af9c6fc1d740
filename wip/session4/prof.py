import torch, torch.nn.functional as F
from vit_edu.model import ViT
torch.set_num_threads(2)
m = ViT(image_size=32, patch_size=4, channels=3, num_classes=4, dim=64, depth=4, heads=4, mlp_dim=128)
opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
x = torch.rand(128, 3, 32, 32); y = torch.randint(0, 4, (128,))
def step():
    loss = F.cross_entropy(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
for _ in range(3): step()
from torch.profiler import profile
with profile() as p:
    for _ in range(10): step()
print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
