from . import webhooks
from . import portal
from . import portal_forms
from . import dunning_statement
from . import portal_autopay
