"""Words of the monthly check-in: the questions and answers the returnee sees (in their
language) and the labels of the answers on the summary in the topic (in the office's)."""

from __future__ import annotations

from bot.marks import N_

CHECKIN_NEWS = {
    "checkin": N_(
        "👋 Hello from your office. How are you? We ask a few short questions every month after "
        "your return; it takes a minute and you can skip any of them."
    ),
    "checkin_reminder": N_(
        "👋 Your office would still like to know how you are. A few short questions, about a "
        "minute."
    ),
}

QUESTION_TEXTS = {
    "feeling": N_("How are you?"),
    "safe": N_("Do you feel safe where you are?"),
    "housing": N_("How is your housing?"),
    "activity": N_("How are your work, school or business going?"),
    "money": N_("Did the money planned for this month arrive?"),
    "contact": N_("Do you want the office to contact you?"),
}

# "question.answer": the button the returnee presses, and the word on the topic's summary.
ANSWER_LABELS = {
    "feeling.good": N_("Good"),
    "feeling.so_so": N_("So-so"),
    "feeling.bad": N_("Bad"),
    "safe.yes": N_("Yes, I feel safe"),
    "safe.no": N_("No, I do not feel safe"),
    "safe.talk": N_("I want to talk to someone"),
    "housing.fine": N_("Fine"),
    "housing.problems": N_("There are problems"),
    "housing.none": N_("I have no place to stay"),
    "activity.going_well": N_("Going well"),
    "activity.difficult": N_("It is difficult"),
    "activity.not_started": N_("Not started yet"),
    "money.yes": N_("Yes"),
    "money.partly": N_("Only part of it"),
    "money.no": N_("No"),
    "money.none_planned": N_("Nothing was planned"),
    "contact.no": N_("No, thank you"),
    "contact.yes": N_("Yes, please contact me"),
}

CHECKIN_STATUS = {
    "scheduled": N_("planned"),
    "asked": N_("asked, waiting for the answer"),
    "answered": N_("answered"),
    "missed": N_("missed"),
    "skipped": N_("skipped"),
    "cancelled": N_("cancelled"),
}
