"""Get the Best of Both Worlds: Improving Accuracy and Transferability by Grassmann Class Representation (Wang,
Li & Zhang, ICCV 2023). The runs are ordinary classification runs of one small ResNet with three heads
(``model=softmax_resnet``, ``cosine_resnet``, ``gcr_resnet`` with ``model.k``) on five source classes; the
evaluate stage measures linear transfer to the held-out classes and intra-class variability of every trained
net's frozen features."""

from subspacelab.papers.spec import Paper

PAPER = Paper(
    id="gcr",
    title="Get the Best of Both Worlds: Improving Accuracy and Transferability by Grassmann "
    "Class Representation",
    analysis=True,
)
