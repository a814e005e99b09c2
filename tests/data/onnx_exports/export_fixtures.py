"""How the exported fixtures in this folder were made (needs torch and torchvision, which
the test extra does not install; run by hand, never by the tests):

    pip install torch torchvision onnx onnxscript
    python tests/data/onnx_exports/export_fixtures.py

Two torchvision architectures at a reduced width, random weights (seed 0; nothing is
downloaded), 10 classes, 64 x 64 inputs: MobileNetV3-small (hard-swish, squeeze-and-excite
with hard-sigmoid) through PyTorch's TorchScript exporter (``dynamo=False``: shape chains,
graph name ``main_graph``) and EfficientNet-B0 (swish as ``Sigmoid`` + ``Mul``,
squeeze-and-excite with sigmoid) through the dynamo exporter. Real exporter output, small
enough to ship (1.7 MB together); the tests check that accelsim imports them whole and
matches ONNX Runtime.
"""

from pathlib import Path

import torch
from torchvision.models import efficientnet, mobilenetv3

HERE = Path(__file__).resolve().parent


def models():
    torch.manual_seed(0)
    settings, last = mobilenetv3._mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25)
    yield "mobilenet_v3_small_w025", mobilenetv3.MobileNetV3(settings, last, num_classes=10)
    torch.manual_seed(0)
    settings, last = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.25,
                                                     depth_mult=0.34)
    yield "efficientnet_b0_w025", efficientnet.EfficientNet(settings, 0.2, num_classes=10,
                                                            last_channel=last)


def main() -> None:
    x = torch.randn(1, 3, 64, 64)
    for name, model in models():
        model.eval()
        with torch.no_grad():   # BatchNorm statistics away from the defaults
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.uniform_(-0.2, 0.2)
                    module.running_var.uniform_(0.5, 1.5)
        if name.startswith("mobilenet"):
            torch.onnx.export(model, x, HERE / f"{name}_torchscript.onnx", dynamo=False,
                              opset_version=17)
        else:
            torch.onnx.export(model, x, HERE / f"{name}_dynamo.onnx", dynamo=True,
                              opset_version=18, external_data=False)


if __name__ == "__main__":
    main()
