# Registers Prefect's block types in the database of PREFECT_API_DATABASE_CONNECTION_URL, as
# a server does at each start-up (about 1 s): done once in the template database, so that
# each batch's server skips it (PREFECT_SERVER_REGISTER_BLOCKS_ON_START=false).
import asyncio

from prefect.server.database import provide_database_interface
from prefect.server.models.block_registration import run_block_auto_registration


async def main() -> None:
    session = await provide_database_interface().session()
    async with session:
        await run_block_auto_registration(session=session)


asyncio.run(main())
