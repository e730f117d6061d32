from . import test_dataset
