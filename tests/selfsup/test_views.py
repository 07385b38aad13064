"""The augmented views: torchvision's RandomResizedCrop + RandomHorizontalFlip drawn per image from (seed, epoch,
index) alone, so an image's views do not depend on its batch."""

import torch

from subspacelab.selfsup.views import RandomViews, view_seed


def _images(n=5, c=1, size=12):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(0))


def test_the_views_equal_torchvisions_transforms_applied_n_times_under_the_same_seed():
    from torchvision.transforms import v2

    views = RandomViews(3, 10, scale=(0.3, 1.0), flip=0.5, seed=4)
    img = _images(1, 3)[0]
    ours = views.one(img, 123)
    transform = v2.Compose(
        [v2.RandomResizedCrop(10, scale=(0.3, 1.0), antialias=True), v2.RandomHorizontalFlip(0.5)]
    )
    torch.manual_seed(123)
    theirs = torch.stack([transform(img) for _ in range(3)])
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_an_images_views_depend_on_its_index_and_epoch_not_on_its_batch():
    x = _images()
    views = RandomViews(2, 12, seed=1)
    whole = views(x, torch.arange(5), epoch=0)
    part = views(x[[3, 1]], torch.tensor([3, 1]), epoch=0)
    assert whole.shape == (5, 2, 1, 12, 12)
    assert torch.equal(part[0], whole[3]) and torch.equal(part[1], whole[1])
    assert not torch.equal(views(x, torch.arange(5), epoch=1), whole)
    assert not torch.equal(RandomViews(2, 12, seed=2)(x, torch.arange(5), 0), whole)


def test_a_full_square_crop_without_flips_is_the_image_and_the_global_generator_is_untouched():
    x = _images()
    state = torch.get_rng_state()
    same = RandomViews(2, 12, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=0.0)(x, torch.arange(5), 0)
    torch.testing.assert_close(same, x[:, None].expand(5, 2, 1, 12, 12))
    assert torch.equal(torch.get_rng_state(), state)
    assert view_seed(1, 2, 3) == view_seed(1, 2, 3) != view_seed(1, 2, 4)
