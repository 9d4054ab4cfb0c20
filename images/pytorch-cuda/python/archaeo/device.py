"""The torch device a command runs on, from its --device flag and (under torchrun) LOCAL_RANK."""

from .errors import ArchaeoError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(choice: str, local_rank: int = 0):
    """cpu, or the CUDA GPU of this local rank: "auto" takes the GPU when torch sees one; "cuda"
    without a visible GPU, or a LOCAL_RANK beyond the visible GPUs, is an ArchaeoError with the fix."""
    import torch

    if choice not in DEVICE_CHOICES:
        raise ArchaeoError(f"--device {choice}: choose auto, cpu or cuda")
    cuda = torch.cuda.is_available()
    if choice == "cuda" and not cuda:
        raise ArchaeoError("--device cuda: no CUDA GPU is visible (torch.cuda.is_available() is False); use --device cpu")
    if choice == "cpu" or not cuda:
        return torch.device("cpu")
    if local_rank >= torch.cuda.device_count():
        raise ArchaeoError(
            f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} GPU(s) are visible: "
            "use --nproc-per-node at most the number of GPUs"
        )
    return torch.device("cuda", local_rank)
