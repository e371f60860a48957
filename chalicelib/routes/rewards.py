"""The rewards engine for host apps: grants, the course registry and the reward settings."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.rewards.names import valid_course_id, valid_question_id
from chalicelib.ledger.accounts import valid_user_id
from chalicelib.routes._http import Call, Reply, endpoint, path_param, replied
from chalicelib.routes.rewards_models import (
    Course,
    CourseBody,
    CourseList,
    Grant,
    GrantBody,
    Question,
    QuestionBody,
    QuestionList,
    QuestionPatch,
    RewardSettings,
    RewardSettingsBody,
)

bp = Blueprint(__name__)


@endpoint(bp, "/v1/users/{user_id}/rewards", "POST", summary="Grant a reward under its once-only and per-type rules.",
          scope="rewards", body=GrantBody, response=Grant, tags=["rewards"],
          error_statuses=[400, 401, 403, 404, 409, 422, 429])
def grant(call: Call, user_id: str) -> Reply:
    from chalicelib.rewards.grants import Grantor
    from chalicelib.rewards.grants import grant as do_grant

    path_param("user_id", user_id, valid_user_id)
    outcome = do_grant(call.principal.economy, user_id, call.body.type, call.body.ref,
                       grantor=Grantor.api_key(call.principal.key_id))
    body = {**outcome.result, "already_claimed": outcome.replayed}
    return replied(outcome, body)


# -- the course registry (operators) -------------------------------------------------------


@endpoint(bp, "/v1/admin/courses/{course_id}", "PUT",
          summary="Register (201) or replace (200) a course and its reward, audited.",
          action="config.write", body=CourseBody, response=Course, status=201, also_ok=[200], tags=["rewards", "admin"],
          error_statuses=[400, 401, 403, 409])
def put_course(call: Call, course_id: str) -> Reply:
    from chalicelib.rewards.courses import put_course as put

    path_param("course_id", course_id, valid_course_id)
    view, created = put(call.principal.economy, course_id, title=call.body.title, reward=call.body.reward,
                        actor=call.principal.actor)
    return Reply(view, 201 if created else 200)


@endpoint(bp, "/v1/admin/courses/{course_id}", "GET", summary="A registered course.", action="config.read",
          response=Course, tags=["rewards", "admin"], error_statuses=[400, 401, 403, 404])
def get_course(call: Call, course_id: str) -> Reply:
    from chalicelib.rewards.courses import get_course as get

    return Reply(get(call.principal.economy, path_param("course_id", course_id, valid_course_id)))


@endpoint(bp, "/v1/admin/courses/{course_id}", "DELETE", summary="Take a course off the registry, audited.",
          action="config.write", response=Course, tags=["rewards", "admin"], error_statuses=[400, 401, 403, 404, 409])
def delete_course(call: Call, course_id: str) -> Reply:
    from chalicelib.rewards.courses import delete_course as delete

    path_param("course_id", course_id, valid_course_id)
    return Reply(delete(call.principal.economy, course_id, call.principal.actor))


@endpoint(bp, "/v1/admin/courses", "GET", summary="Every registered course.", action="config.read", response=CourseList,
          tags=["rewards", "admin"], error_statuses=[401, 403])
def list_courses(call: Call) -> Reply:
    from chalicelib.rewards.courses import list_courses as listing

    return Reply({"items": listing(call.principal.economy)})


# -- reward settings (operators) --------------------------------------------------------


@endpoint(bp, "/v1/admin/reward-settings", "GET", summary="The economy's reward amounts and grant budget.",
          action="config.read", response=RewardSettings, tags=["rewards", "admin"], error_statuses=[401, 403])
def get_settings(call: Call) -> Reply:
    from chalicelib.rewards.settings import get_tunables

    return Reply({"settings": get_tunables(call.principal.economy).as_dict(), "changed": False})


@endpoint(bp, "/v1/admin/reward-settings", "PUT", summary="Set some reward amounts and/or the grant budget, audited.",
          action="config.write", body=RewardSettingsBody, response=RewardSettings, tags=["rewards", "admin"],
          error_statuses=[400, 401, 403, 404])
def put_settings(call: Call) -> Reply:
    from chalicelib.rewards.settings import set_tunables

    return Reply(set_tunables(call.principal.economy, call.body.model_dump(exclude_none=True), call.principal.actor))


# -- the quest's question set (operators) --------------------------------------------------


def _question_id(value: str) -> str:
    return path_param("question_id", value, valid_question_id)


@endpoint(bp, "/v1/admin/quests", "GET", summary="The quest's questions, active or not (or the built-in defaults).",
          action="config.read", response=QuestionList, tags=["rewards", "admin"], error_statuses=[401, 403])
def list_quests(call: Call) -> Reply:
    from chalicelib.rewards.quest_admin import list_questions

    items, defaults = list_questions(call.principal.economy)
    return Reply({"items": items, "defaults": defaults})


@endpoint(bp, "/v1/admin/quests", "POST", summary="Add a question to the quest (the defaults are stored first), "
          "audited.", action="config.write", body=QuestionBody, response=Question, status=201,
          tags=["rewards", "admin"], error_statuses=[400, 401, 403, 422])
def create_quest(call: Call) -> Reply:
    from chalicelib.rewards.quest_admin import create_question

    b = call.body
    return Reply(create_question(call.principal.economy, b.question, b.answer, b.wrong, call.principal.actor), 201)


@endpoint(bp, "/v1/admin/quests/{question_id}", "GET", summary="One question of the quest.", action="config.read",
          response=Question, tags=["rewards", "admin"], error_statuses=[400, 401, 403, 404])
def get_quest(call: Call, question_id: str) -> Reply:
    from chalicelib.rewards.quest_admin import get_question

    return Reply(get_question(call.principal.economy, _question_id(question_id)))


@endpoint(bp, "/v1/admin/quests/{question_id}", "PATCH", summary="Change a question, its choices or whether it is "
          "asked, audited.", action="config.write", body=QuestionPatch, response=Question, tags=["rewards", "admin"],
          error_statuses=[400, 401, 403, 404, 409, 422])
def update_quest(call: Call, question_id: str) -> Reply:
    from chalicelib.rewards.quest_admin import update_question

    return Reply(update_question(call.principal.economy, _question_id(question_id),
                                 call.body.model_dump(exclude_unset=True), call.principal.actor))


@endpoint(bp, "/v1/admin/quests/{question_id}", "DELETE", summary="Stop asking a question (it is deactivated, "
          "not erased), audited.", action="config.write", response=Question, tags=["rewards", "admin"],
          error_statuses=[400, 401, 403, 404, 409, 422])
def delete_quest(call: Call, question_id: str) -> Reply:
    from chalicelib.rewards.quest_admin import deactivate_question

    return Reply(deactivate_question(call.principal.economy, _question_id(question_id), call.principal.actor))
