"""Identity: holders, representatives, professionals, and the holder's login.

Invariants:
- A holder is identified by a valid INS (NIR or NIA; test/demo OIDs only outside production) and
  the five strict traits, stored as given and never rewritten.
- Login is password (Argon2) then a 6-digit one-time code; failures of either are throttled per
  account and client address, and per address (`identity.throttle`). Unknown identifiers, wrong
  passwords and blocked attempts get the same message and take the same time, so identifiers
  cannot be enumerated.
"""

from carnet.identity.models import SpaceStatus
from carnet.identity.services.directory import (
    demo_professionals,
    organisations_by_idnst,
    pharmacist_sections,
    professional_by_id,
    professional_by_rpps,
    professional_for_mssante_address,
    professional_login_accounts,
    professionals_with_mailbox,
    search_professionals,
    user_for_professional_login,
)
from carnet.identity.services.login import (
    LOGIN_FAILED_MESSAGE,
    actor_for_professional,
    actor_for_user,
    pending_login_user,
    resend_login_code,
    send_login_code,
    start_login,
    verify_login_code,
)
from carnet.identity.services.registration import (
    BirthTraits,
    activate_space,
    add_legal_representative,
    register_holder,
    register_organisation,
    register_professional,
)
from carnet.identity.services.spaces import (
    OPEN_SPACE_STATUSES,
    current_representations,
    holder_for_ins,
    holder_or_none,
    holder_rows,
    holder_with_login,
    is_open_status,
    read_patient,
    space_is_open,
    spaces_for_matricule,
    spaces_of,
)

__all__ = [
    "LOGIN_FAILED_MESSAGE",
    "OPEN_SPACE_STATUSES",
    "BirthTraits",
    "SpaceStatus",
    "activate_space",
    "actor_for_professional",
    "actor_for_user",
    "add_legal_representative",
    "current_representations",
    "demo_professionals",
    "holder_for_ins",
    "holder_or_none",
    "holder_rows",
    "holder_with_login",
    "is_open_status",
    "organisations_by_idnst",
    "pending_login_user",
    "pharmacist_sections",
    "professional_by_id",
    "professional_by_rpps",
    "professional_for_mssante_address",
    "professional_login_accounts",
    "professionals_with_mailbox",
    "read_patient",
    "register_holder",
    "register_organisation",
    "register_professional",
    "resend_login_code",
    "search_professionals",
    "send_login_code",
    "space_is_open",
    "spaces_for_matricule",
    "spaces_of",
    "start_login",
    "user_for_professional_login",
    "verify_login_code",
]
