"""Reading media: container probe and the one streaming decode pass."""
from vidforensics.io.decode import Frame, iter_frames
from vidforensics.io.probe import ProbeInfo, probe

__all__ = ["Frame", "iter_frames", "ProbeInfo", "probe"]
