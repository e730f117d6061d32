from . import test_accountant_ui
from . import test_dunning_run
from . import test_install
from . import test_security
from . import test_whatsapp_webhook
from . import test_segmentation
from . import test_demo_data
from . import test_dataset
