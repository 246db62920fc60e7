"""Data: music21 corpora, MIDI folders and synthetic sets turned into cached bar data sets."""
from mgen.data.dataset import DATA_NAMES, BarDataset, DataConfig, load_dataset

__all__ = ["DATA_NAMES", "BarDataset", "DataConfig", "load_dataset"]
