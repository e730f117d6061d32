from . import dunning_channel
from . import dunning_policy
from . import dunning_step
from . import res_company
from . import res_config_settings
