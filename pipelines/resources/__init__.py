"""One module per resource; RESOURCES is what the Definitions (and the tests) bind."""
from pipelines.resources.chargeops import ChargeOpsApp

RESOURCES = {"chargeops": ChargeOpsApp()}
