"""Taking updates from Telegram: one at a time, never confirmed before they are handled.

`reading` turns Telegram's raw JSON into aiogram updates one by one (an update aiogram cannot
read never blocks the others), `handling` feeds one update to the dispatcher and says whether it
must be tried again, `polling` and `webhook` are the two ways updates arrive.
"""
