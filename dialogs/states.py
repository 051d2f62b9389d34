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


class Knowledge(StatesGroup):
    topics = State()
    questions = State()
    answer = State()
    asked = State()
    sheet = State()
