from . import dunning_kpi
from . import dunning_kpi_engagement
from . import dunning_dashboard
from . import dunning_report_aging
from . import dunning_report_channel
from . import dunning_report_recovery
from . import dunning_report_promise
from . import dunning_statement
