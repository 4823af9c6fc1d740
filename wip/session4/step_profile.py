"""Time one training step of the shapes recipe model: forward, backward, optimizer."""
import sys, time, torch
import torch.nn.functional as F
from vit_edu.model import ViT
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
bs = int(sys.argv[2]) if len(sys.argv) > 2 else 128
kw = dict(image_size=32, patch_size=4, channels=3, num_classes=4, dim=64, depth=4, heads=4, mlp_dim=128)
for extra in [dict(), dict(pool="mean")]:
    torch.manual_seed(0)
    m = ViT(**kw, **extra)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    x = torch.rand(bs, 3, 32, 32); y = torch.randint(0, 4, (bs,))
    for i in range(3):
        loss = F.cross_entropy(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
    tf = tb = to = 0
    n = 20
    for i in range(n):
        t0 = time.perf_counter(); loss = F.cross_entropy(m(x), y); t1 = time.perf_counter()
        opt.zero_grad(); loss.backward(); t2 = time.perf_counter(); opt.step(); t3 = time.perf_counter()
        tf += t1 - t0; tb += t2 - t1; to += t3 - t2
    print(extra, f"fwd {tf/n*1e3:.1f} ms bwd {tb/n*1e3:.1f} ms opt {to/n*1e3:.1f} ms total {(tf+tb+to)/n*1e3:.1f} ms/step, {bs*n/(tf+tb+to):.0f} img/s")
