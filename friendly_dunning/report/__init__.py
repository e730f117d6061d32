from . import dunning_statement
