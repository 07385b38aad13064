"""data.digit_modalities: stroke measures on drawn shapes, point clouds inside the ink and scaled as recorded,
captions that name the class and only the attributes' own bins, masking and quarter turns."""

import numpy as np
import pytest
import torch

from subspacelab.data import digit_modalities as dm


def _bar(width=3, shear=0.0, height=16):
    img = np.zeros((28, 28))
    for i in range(height):
        row = 6 + i
        centre = 14 + shear * (height / 2 - i)  # shear > 0: the top leans right
        lo = int(round(centre - width / 2))
        img[row, lo : lo + width] = 1.0
    return img


def test_stroke_measures_order_slant_thickness_and_width():
    m = dm.stroke_measures(np.stack([_bar(3, 0.0), _bar(3, 0.5), _bar(3, -0.5), _bar(7, 0.0)]))
    assert abs(m["slant"][0]) < 0.05 and m["slant"][1] > 0.3 and m["slant"][2] < -0.3
    assert m["thickness"][3] > m["thickness"][0]
    assert m["width"][0] == 3 and m["width"][3] == 7 and m["width"][1] > 3


def test_point_clouds_fall_inside_the_ink_and_carry_their_scale():
    img = np.zeros((2, 28, 28))
    img[:, 10:12, 20:22] = 1.0
    clouds, scale = dm.point_clouds(img, 50, np.random.default_rng(0))
    assert clouds.shape == (2, 50, 2) and np.all((0.8 <= scale) & (scale <= 1.2))
    unscaled = clouds / scale[:, None, None]
    cols = (unscaled[..., 0] + 1) / 2 * 28
    rows = (1 - unscaled[..., 1]) / 2 * 28
    assert np.all((cols >= 20 - 1e-5) & (cols <= 22 + 1e-5) & (rows >= 10 - 1e-5) & (rows <= 12 + 1e-5))


def test_captions_name_the_class_and_each_attribute_only_by_its_own_bin():
    labels = np.arange(10)
    bins = {"slant": np.arange(10) % 5, "thickness": np.arange(10) % 3, "width": (np.arange(10) + 1) % 3}
    caps = dm.captions(labels, bins, np.random.default_rng(1), p_attribute=1.0)
    for i, words in enumerate(caps):
        text = " ".join(words)
        assert any(w in words for w in dm.CLASS_WORDS[i])
        assert not any(w in words for c, group in enumerate(dm.CLASS_WORDS) if c != i for w in group)
        for name, table in dm.ATTRIBUTES.items():
            assert any(phrase in text for phrase in table[bins[name][i]])
    ids = dm.encode(caps, dm.vocabulary(), 10)
    assert ids.shape == (10, 10) and (ids[:, 0] != dm.PAD).all()
    with pytest.raises(ValueError, match="exceeds length"):
        dm.encode(caps, dm.vocabulary(), 3)


def test_one_word_is_masked_per_caption_and_quarter_turns_rotate():
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    masked, target = dm.mask_one_word(ids, np.random.default_rng(2))
    assert ((masked == dm.MASK).sum(1) == 1).all()
    assert torch.equal(ids[masked == dm.MASK], target) and (target != dm.PAD).all()
    cloud = np.array([[[1.0, 0.0], [0.0, 2.0]]] * 8, dtype=np.float32)
    turned, turns = dm.rotate_quarters(cloud, np.random.default_rng(3))
    for c, t in zip(turned, turns, strict=True):
        angle = np.pi / 2 * int(t)
        rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        np.testing.assert_allclose(c.numpy(), cloud[0] @ rot, atol=1e-6)
