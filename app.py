"""Coinhall's Chalice app: creates the app and registers the blueprints. No logic."""
import chalicelib.wiring  # noqa: F401 (registers every queue topic and job before anything runs)
from chalicelib.core.config import check_at_cold_start
from chalicelib.core.observability import configure_logging, http_context
from chalicelib.routes import wallets  # first: the OpenAPI document lists the paths in import order
from chalicelib.routes import _http, admin, catalog, health, local_pages, purchases, queue_consumer, schedules
from chalicelib.routes import content as content_routes
from chalicelib.routes import holds as hold_routes
from chalicelib.routes import discord as discord_routes
from chalicelib.routes import rewards as rewards_routes
from chalicelib.routes import market as market_routes
from chalicelib.routes import game_servers as game_server_routes
from chalicelib.routes import reports as report_routes
from chalicelib.routes import admin_users
from chalicelib.routes import events as event_routes

check_at_cold_start()

app = _http.CoinhallApp(app_name="coinhall")
app.register_middleware(_http.reshape_errors, "http")
configure_logging()  # after Chalice set up its logger: JSON lines with a request or job id
app.register_middleware(http_context, "http")
app.register_blueprint(health.bp)
app.register_blueprint(catalog.bp)
app.register_blueprint(wallets.bp)
app.register_blueprint(content_routes.bp)
app.register_blueprint(hold_routes.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(admin_users.bp)
app.register_blueprint(purchases.bp)
app.register_blueprint(local_pages.bp)
app.register_blueprint(discord_routes.bp)
app.register_blueprint(rewards_routes.bp)
app.register_blueprint(market_routes.bp)
app.register_blueprint(game_server_routes.bp)
app.register_blueprint(report_routes.bp)
app.register_blueprint(event_routes.bp)
app.register_blueprint(schedules.bp)
app.register_blueprint(queue_consumer.bp)
