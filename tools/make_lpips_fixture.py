"""Writes the LPIPS stand-in fixtures of tests/test_lpips.py (needs torch; CI does not run this).

    python tools/make_lpips_fixture.py            # -> tests/fixtures/lpips_standin_{vgg16,lin}.pth, lpips_reference.npz

A VGG16-topology network with tiny widths (4, 8, 8, 8, 8 instead of 64, 128, 256, 512, 512) and random weights,
saved the way the real files are: the convolutions as a torchvision-style `features.N.*` state_dict with
`torch.save` (zip form), the lin weights `linK.model.1.weight` [1, C, 1, 1] in torch's legacy form like the
lpips package's weights/v0.1/vgg.pth. Reference distances come from a plain torch implementation of the LPIPS
v0.1 formula (torch's own conv/max-pool ops), for a few fixed image pairs in [-1, 1].
"""

import collections
import os

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures")
WIDTHS = (4, 8, 8, 8, 8)
BLOCKS = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))  # torchvision vgg16().features conv indices
SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)


def make_weights(seed=0):
    g = torch.Generator().manual_seed(seed)
    vgg, lin = collections.OrderedDict(), collections.OrderedDict()
    cin = 3
    for b, (block, width) in enumerate(zip(BLOCKS, WIDTHS)):
        for i in block:
            std = (2.0 / (cin * 9)) ** 0.5  # He init keeps activations O(1) through 13 layers
            vgg[f"features.{i}.weight"] = torch.randn(width, cin, 3, 3, generator=g) * std
            vgg[f"features.{i}.bias"] = torch.randn(width, generator=g) * 0.1
            cin = width
        lin[f"lin{b}.model.1.weight"] = torch.rand(1, width, 1, 1, generator=g) * 0.5
    return vgg, lin


def lpips_torch(vgg, lin, x0, x1):
    """LPIPS v0.1 on NCHW images in [-1, 1]: the formula written out with torch ops."""
    def taps(x):
        x = (x - SHIFT) / SCALE
        out = []
        for b, block in enumerate(BLOCKS):
            if b:
                x = F.max_pool2d(x, 2, 2)
            for i in block:
                x = F.relu(F.conv2d(x, vgg[f"features.{i}.weight"], vgg[f"features.{i}.bias"], padding=1))
            out.append(x)
        return out

    total = 0
    for b, (f0, f1) in enumerate(zip(taps(x0), taps(x1))):
        n0 = f0 / (torch.sqrt(torch.sum(f0 ** 2, dim=1, keepdim=True)) + 1e-10)
        n1 = f1 / (torch.sqrt(torch.sum(f1 ** 2, dim=1, keepdim=True)) + 1e-10)
        d = F.conv2d((n0 - n1) ** 2, lin[f"lin{b}.model.1.weight"])  # 1x1, no bias
        total = total + d.mean(dim=[2, 3], keepdim=True)
    return total.view(-1)


def main():
    vgg, lin = make_weights()
    torch.save(vgg, os.path.join(OUT, "lpips_standin_vgg16.pth"))
    torch.save(lin, os.path.join(OUT, "lpips_standin_lin.pth"), _use_new_zipfile_serialization=False)
    rng = np.random.RandomState(1)
    arrays = {}
    for name, (n, h, w) in {"sq32": (3, 32, 32), "odd35x29": (2, 35, 29)}.items():
        base = rng.uniform(-1, 1, (n, h, w, 3)).astype(np.float32)
        other = np.clip(base + rng.normal(0, 0.3, base.shape), -1, 1).astype(np.float32)
        with torch.no_grad():
            d = lpips_torch(vgg, lin, *(torch.from_numpy(a).permute(0, 3, 1, 2) for a in (base, other)))
        arrays[f"img0_{name}"], arrays[f"img1_{name}"], arrays[f"dist_{name}"] = base, other, d.numpy()
        print(name, d.numpy())
    np.savez_compressed(os.path.join(OUT, "lpips_reference.npz"), **arrays)


if __name__ == "__main__":
    main()
