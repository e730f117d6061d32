from . import dunning_send_wizard
from . import dunning_run_preview
