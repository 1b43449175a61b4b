"""Every table, imported in one place so Alembic and the app see the whole schema."""
import server.admin.models  # noqa: F401
import server.operator  # noqa: F401  (the operator_settings table)
import sync.models  # noqa: F401
from server.notify.models import Broadcast, OutboxMessage, PlannedOutage, PushSubscription
from server.assets.models import Customer, Feeder, Road, Transformer, Zone
from server.crews.models import Crew, CrewShift
from server.dispatch.models import LiveEvent
from server.incidents.models import Incident, IncidentEvent
from server.incidents.records import PhotoFile
from server.reports.models import ApiClient, RateHit, Report
from server.staff.models import SignInFailure, Staff, StaffSession

__all__ = ["Broadcast", "OutboxMessage", "PushSubscription", "ApiClient", "Crew", "CrewShift", "Customer", "Feeder", "Incident", "IncidentEvent", "LiveEvent", "PhotoFile", "PlannedOutage", "RateHit", "Report",
           "Road", "SignInFailure", "Staff", "StaffSession", "Transformer", "Zone"]
