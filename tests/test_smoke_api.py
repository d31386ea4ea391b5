from __future__ import annotations

from tests.conftest import AppFactory


async def test_count_task_runs_after_the_response(make_app: AppFactory) -> None:
    app = make_app()
    async with app.test_app() as test_app:
        client = test_app.test_client()
        response = await client.post("/tasks/count", json={"n": 3, "interval": 0})
        assert response.status_code == 202
        record = await response.get_json()
        await app.extensions["tasks"].runner.join()
        finished = await (await client.get(f"/tasks/{record['id']}")).get_json()
        assert finished["state"] == "succeeded"
        assert finished["result"] == 3
