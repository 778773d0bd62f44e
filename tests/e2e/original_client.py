"""The original integration guide's HTTP client, unchanged but for its settings, and
methods for the endpoints added since, in its style (below the originals).

It read ``settings.EVENT_SCHEDULER_URL``, ``EVENT_SCHEDULER_TIMEOUT`` and
``EVENT_SCHEDULER_API_KEY``; here they are constructor arguments, so a test
can point it at a live server. Every request and response shape is the
guide's own: the compatibility test proves the API still serves it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import httpx

logger = logging.getLogger(__name__)


class EventSchedulerClient:
    """Client for interacting with Event Scheduler Service"""

    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.headers = {"X-Service-Name": "backend", "X-API-Key": api_key}

    async def schedule_event(
        self,
        event_type: str,
        entity_id: str,
        scheduled_time: datetime,
        resource_timezone: str,
        user_timezone: str,
        payload: dict[str, Any],
        recurrence: dict[str, Any] | None = None,
    ) -> str:
        event_data = {
            "type": event_type,
            "service_id": "backend",
            "entity_id": entity_id,
            "scheduled_time": scheduled_time.isoformat(),
            "timezone_context": {
                "resource_timezone": resource_timezone,
                "user_timezone": user_timezone,
                "execution_timezone": resource_timezone,
            },
            "payload": payload,
        }

        if recurrence:
            event_data["recurrence"] = recurrence

        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/api/events/schedule",
                json=event_data,
                headers=self.headers,
                timeout=self.timeout,
            )
            response.raise_for_status()
            result = response.json()
            logger.info(f"Scheduled event {result['event_id']} for {scheduled_time}")
            return result["event_id"]

    async def cancel_event(self, event_id: str) -> bool:
        """Cancel a scheduled event"""
        async with httpx.AsyncClient() as client:
            response = await client.delete(
                f"{self.base_url}/api/events/{event_id}",
                headers=self.headers,
                timeout=self.timeout,
            )
            if response.status_code == 200:
                logger.info(f"Cancelled event {event_id}")
                return True
            return False

    async def get_upcoming_events(
        self,
        entity_id: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        timezone: str = "UTC",
    ) -> list[dict[str, Any]]:
        """Get upcoming scheduled events"""
        params = {"service_id": "backend", "timezone": timezone}
        if entity_id:
            params["entity_id"] = entity_id
        if start_time:
            params["start_time"] = start_time.isoformat()
        if end_time:
            params["end_time"] = end_time.isoformat()

        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{self.base_url}/api/events/upcoming",
                params=params,
                headers=self.headers,
                timeout=self.timeout,
            )
            response.raise_for_status()
            return response.json()

    # --- The engine's controls, in the same style (not in the original guide) ---

    async def get_event(self, event_id: str) -> dict[str, Any] | None:
        """Get one event and its latest firings; None if unknown"""
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{self.base_url}/api/events/{event_id}",
                headers=self.headers,
                timeout=self.timeout,
            )
            if response.status_code == 404:
                return None
            response.raise_for_status()
            return response.json()

    async def update_event(
        self,
        event_id: str,
        scheduled_time: datetime | None = None,
        payload: dict[str, Any] | None = None,
        controls: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Reschedule an event in place (its id and history stay)"""
        changes: dict[str, Any] = {}
        if scheduled_time:
            changes["scheduled_time"] = scheduled_time.isoformat()
        if payload is not None:
            changes["payload"] = payload
        if controls:
            changes["controls"] = controls

        async with httpx.AsyncClient() as client:
            response = await client.patch(
                f"{self.base_url}/api/events/{event_id}",
                json=changes,
                headers=self.headers,
                timeout=self.timeout,
            )
            response.raise_for_status()
            logger.info(f"Updated event {event_id}")
            return response.json()

    async def pause_event(self, event_id: str) -> bool:
        """Pause a scheduled event"""
        return await self._control(event_id, "pause")

    async def resume_event(self, event_id: str) -> bool:
        """Resume a paused event"""
        return await self._control(event_id, "resume")

    async def run_event(self, event_id: str) -> str | None:
        """Fire an event once more, now; the new occurrence's id"""
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/api/events/{event_id}/run",
                headers=self.headers,
                timeout=self.timeout,
            )
            if response.status_code != 202:
                return None
            return response.json()["occurrence_id"]

    async def _control(self, event_id: str, action: str) -> bool:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/api/events/{event_id}/{action}",
                headers=self.headers,
                timeout=self.timeout,
            )
            if response.status_code == 200:
                logger.info(f"{action} event {event_id}")
                return True
            return False
