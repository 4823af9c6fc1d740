import time, torch, torch.nn.functional as F
from vit_edu.model import ViT
torch.set_num_threads(2)
def bench(fused, bs=128):
    torch.manual_seed(0)
    m = ViT(image_size=32, patch_size=4, channels=3, num_classes=4, dim=64, depth=4, heads=4, mlp_dim=128)
    for mod in m.modules():
        if hasattr(mod, "fused_attn"): mod.fused_attn = fused
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    x = torch.rand(bs, 3, 32, 32); y = torch.randint(0, 4, (bs,))
    def step():
        loss = F.cross_entropy(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
    for _ in range(3): step()
    t = time.perf_counter()
    for _ in range(15): step()
    dt = (time.perf_counter() - t) / 15
    print(f"fused={fused} bs={bs}: {dt*1e3:.0f} ms/step, {bs/dt:.0f} img/s")
for bs in (128, 64, 256):
    bench(True, bs); bench(False, bs)
