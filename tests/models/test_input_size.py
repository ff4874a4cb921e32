"""The smallest input an architecture can see, measured on the meta device (rnnviz.models.input_size)."""

import pytest

from rnnviz.models import architectures, input_size


@pytest.mark.parametrize(
    "arch, fold",
    [
        ("resnet18", 32),  # 224 -> 7
        ("efficientnet_b0", 32),  # squeeze-and-excitation convolves its 1 x 1 pooled map: not a feature map
        ("convnext_tiny", 32),  # a norm after the global pool
        ("squeezenet1_1", 17),  # 224 -> 13, then a classifier that keeps a 4-d map
        ("regnet_x_400mf", 32),  # computes its widths from tensors while it is built: no meta build
    ],
)
def test_the_downsampling_counts_feature_maps_not_what_follows_a_global_pool(arch, fold):
    assert input_size._downsampling(lambda size: architectures.build(arch)) == fold


def test_a_family_built_from_tensor_values_is_checked_without_error():
    input_size.check_input_size("regnet_x_400mf", 32, lambda size: architectures.build("regnet_x_400mf"))
