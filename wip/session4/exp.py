"""One shapes training experiment on 1 thread: python exp.py key=value ...  (prints one JSON line)."""
import json, sys, time, os, hashlib
import torch
from vit_edu.model import ViT
from vit_edu.data import make_shapes
from vit_edu.shapes import patch_coverage
from vit_edu.train import train, evaluate

cfg = dict(n=8000, ntest=2000, size=(5.0, 7.0), hue=(0.0, 60.0), blobs=4, lines=3, rotate=False,
           dim=64, depth=4, heads=4, mlp=128, patch=4, pool="cls", fused=False,
           epochs=6, bs=128, lr=3e-3, wd=0.05, warmup=1.0, ls=0.0, seed=0, threads=1, shift=0, init="timm", pos="learned", normalize=False)
for arg in sys.argv[1:]:
    k, v = arg.split("=", 1)
    cfg[k] = eval(v) if k not in ("pool", "init", "pos") and v not in ("half", "center") else v
torch.set_num_threads(cfg["threads"])
def data(n, seed):
    key = hashlib.md5(repr((n, seed, cfg["size"], cfg["hue"], cfg["blobs"], cfg["lines"], cfg["rotate"])).encode()).hexdigest()[:10]
    path = f"/tmp/shapes_{key}.pt"
    if os.path.exists(path):
        return torch.load(path)
    d = make_shapes(n, seed=seed, clutter="grey", object_size=cfg["size"], hue_range=cfg["hue"],
                    num_blobs=cfg["blobs"], num_lines=cfg["lines"], rotate=cfg["rotate"])
    torch.save(tuple(d), path)
    return tuple(d)
tr = data(cfg["n"], 0)
te = data(cfg["ntest"], 10_000)
torch.manual_seed(cfg["seed"])
m = ViT(image_size=32, patch_size=cfg["patch"], channels=3, num_classes=4, dim=cfg["dim"], depth=cfg["depth"],
        heads=cfg["heads"], mlp_dim=cfg["mlp"], pool=cfg["pool"])
for mod in m.modules():
    if hasattr(mod, "fused_attn"): mod.fused_attn = cfg["fused"]
import math
from torch import nn
if cfg["init"] == "jax":
    with torch.no_grad():
        for name, mod in m.named_modules():
            if isinstance(mod, nn.Linear):
                nn.init.xavier_uniform_(mod.weight); nn.init.zeros_(mod.bias)
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.weight[0].numel()
                nn.init.trunc_normal_(mod.weight, std=1 / math.sqrt(fan_in) / .87962566103423978); nn.init.zeros_(mod.bias)
        nn.init.zeros_(m.head.weight); nn.init.zeros_(m.cls_token)
elif cfg["init"] == "lecunconv":
    with torch.no_grad():
        c = m.patch_embed.proj if hasattr(m.patch_embed, "proj") else None
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.trunc_normal_(mod.weight, std=1 / math.sqrt(mod.weight[0].numel()) / .87962566103423978)
elif cfg["init"] == "xavier":
    with torch.no_grad():
        for name, mod in m.named_modules():
            if isinstance(mod, nn.Linear) and mod is not m.head:
                nn.init.xavier_uniform_(mod.weight); nn.init.zeros_(mod.bias)
if cfg["pos"] == "sincos":
    g = 32 // cfg["patch"]; D = cfg["dim"]
    ys, xs = torch.meshgrid(torch.arange(g).float(), torch.arange(g).float(), indexing="ij")
    omega = 1.0 / 10000 ** (torch.arange(D // 4).float() / (D // 4))
    def enc(p): a = p.flatten()[:, None] * omega[None]; return torch.cat([a.sin(), a.cos()], 1)
    pe = torch.cat([enc(ys), enc(xs)], 1)
    with torch.no_grad():
        m.pos_embed[0, 1:] = pe; m.pos_embed[0, 0] = 0
if cfg["normalize"] == "center":
    tr = ((tr[0] - 0.5),) + tuple(tr[1:]); te = ((te[0] - 0.5),) + tuple(te[1:])
elif cfg["normalize"] == "half":
    tr = ((tr[0] - 0.5) / 0.5,) + tuple(tr[1:]); te = ((te[0] - 0.5) / 0.5,) + tuple(te[1:])
elif cfg["normalize"]:
    mean = tr[0].mean(dim=(0, 2, 3), keepdim=True); std = tr[0].std(dim=(0, 2, 3), keepdim=True)
    tr = ((tr[0] - mean) / std,) + tuple(tr[1:]); te = ((te[0] - mean) / std,) + tuple(te[1:])
t = time.perf_counter()
h = train(m, tr[0], tr[1], te[0], te[1], epochs=cfg["epochs"], batch_size=cfg["bs"], lr=cfg["lr"],
          weight_decay=cfg["wd"], warmup_epochs=cfg["warmup"], label_smoothing=cfg["ls"], seed=cfg["seed"],
          max_shift=cfg["shift"], progress=False)
out = dict(cfg=" ".join(sys.argv[1:]), acc=[round(a, 4) for a in h.test_accuracy], loss=[round(a, 3) for a in h.train_loss],
           passes=cfg["epochs"] * (cfg["n"] // cfg["bs"]) * cfg["bs"], sec=round(h.total_seconds, 1),
           cover=round(float(patch_coverage(te[2], cfg["patch"]).mean()), 3))
print(json.dumps(out), flush=True)
