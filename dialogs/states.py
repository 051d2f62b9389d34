from aiogram.fsm.state import State, StatesGroup


class Onboarding(StatesGroup):
    language = State()
    consent = State()
    declined = State()


class MainMenu(StatesGroup):
    main = State()
    language = State()
    privacy = State()
    withdraw = State()
    write = State()
    not_ready = State()
    budget = State()
    money_rules = State()
    checkins = State()
    erase = State()
    erase_sent = State()


class Knowledge(StatesGroup):
    topics = State()
    questions = State()
    answer = State()
    asked = State()
    sheet = State()


class Receipts(StatesGroup):
    category = State()
    files = State()
    amount = State()
    currency = State()
    description = State()
    confirm = State()
    sent = State()
    refused = State()


class ReceiptAnswer(StatesGroup):
    text = State()


class Reallocation(StatesGroup):
    source = State()
    target = State()
    amount = State()
    confirm = State()
    sent = State()
    refused = State()


class CheckIns(StatesGroup):
    feeling = State()
    safe = State()
    housing = State()
    activity = State()
    money = State()
    contact = State()
    note = State()
    done = State()
    closed = State()


class ClearChat(StatesGroup):
    confirm = State()
    done = State()
