"""``turngym serve``: a retrieval index (Search-R1's ``/retrieve``), an env's tools (MCP), a policy, an env (OpenEnv)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

serve_app = typer.Typer(
    help="Serve a retrieval index (Search-R1's /retrieve), an env's tools over MCP, a policy (OpenAI API), an env (OpenEnv).",
    no_args_is_help=True,
    add_completion=False,
)


@serve_app.callback()
def _serve_group() -> None:
    """Serve turngym tools over HTTP."""


@serve_app.command()
def retriever(
    index: Annotated[
        Path, typer.Option("--index", help="Index directory (as written by turngym's index builder).", file_okay=False)
    ],
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).", min=0, max=65535)] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
    default_topk: Annotated[int, typer.Option(help="topk when a request sends none.", min=1)] = 3,
    max_topk: Annotated[int, typer.Option(help="Largest topk a request may ask for.", min=1)] = 100,
    max_queries: Annotated[int, typer.Option(help="Most queries in one request.", min=1)] = 512,
    ray: Annotated[
        str | None,
        typer.Option("--ray", help="Deploy on Ray Serve on the cluster at this address (auto: the local one) instead."),
    ] = None,
    replicas: Annotated[int, typer.Option(help="With --ray: replicas, each loading the index.", min=1)] = 1,
    num_cpus: Annotated[float, typer.Option(help="With --ray: CPUs per replica.", min=0)] = 1.0,
    num_gpus: Annotated[float, typer.Option(help="With --ray: GPUs per replica (dense queries embed on cuda).", min=0)] = 0.0,
    max_batch_size: Annotated[int, typer.Option(help="With --ray: most requests merged into one batch.", min=1)] = 64,
    batch_wait_ms: Annotated[float, typer.Option(help="With --ray: how long a batch waits for more requests.", min=0)] = 2.0,
    name: Annotated[str, typer.Option(help="With --ray: the Serve application (envs: retriever='ray-serve:NAME').")] = (
        "turngym-retrieval"
    ),
) -> None:
    """Serve an index at POST /retrieve (Search-R1's format) and GET /health until Ctrl+C or SIGTERM.

    With --ray, the index is a Ray Serve application of --replicas replicas behind Serve's proxy (--host,
    --port), at http://HOST:PORT/NAME/retrieve; the index directory must be readable on every node.
    """
    from turngym.tools.retrieval.server import Limits, RetrievalServerError, serve

    if not index.is_dir():
        raise typer.BadParameter(f"expected an index directory, got {str(index)!r} (no such directory)", param_hint="--index")
    if default_topk > max_topk:
        raise typer.BadParameter(
            f"expected --default-topk <= --max-topk ({max_topk}), got {default_topk}", param_hint="--default-topk"
        )
    if ray is not None:
        try:
            from turngym.tools.retrieval.ray_serve import RetrievalServiceError, serve_on_ray
        except ImportError as exc:  # the [ray] extra is not installed
            typer.echo(f"error: --ray needs the [ray] extra (pip install 'turngym[ray]'): {exc}", err=True)
            raise typer.Exit(1) from None
        options = {
            "name": name,
            "num_replicas": replicas,
            "num_cpus": num_cpus,
            "num_gpus": num_gpus,
            "max_batch_size": max_batch_size,
            "batch_wait_timeout_s": batch_wait_ms / 1000,
            "limits": Limits(max_queries=max_queries, max_topk=max_topk, default_topk=default_topk),
            "http_host": host,
            "http_port": port,
        }
        try:
            serve_on_ray(index, ray, **options)
        except (OSError, ValueError, RetrievalServiceError) as exc:  # a missing or bad index, no cluster
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        return
    try:
        serve(index, host, port, max_queries=max_queries, max_topk=max_topk, default_topk=default_topk)
    except (OSError, ValueError, RetrievalServerError) as exc:  # a missing or bad index, a port in use
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@serve_app.command("mcp")
def mcp_tools_server(
    env: Annotated[str | None, typer.Option("--env", help="Serve this env's tools, after reset(seed).")] = None,
    tools: Annotated[
        list[str] | None, typer.Option("--tools", help="Also serve the Tool or list of Tools at module:attr (repeatable).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the env's reset (its task feeds hidden tool arguments).")] = 0,
    transport: Annotated[str, typer.Option(help="stdio, or http (streamable HTTP at http://HOST:PORT/mcp).")] = "stdio",
    host: Annotated[str, typer.Option(help="Interface to bind (http); 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (http; 0 picks a free one).", min=0, max=65535)] = 8765,
    name: Annotated[str, typer.Option(help="Server name reported to clients.")] = "turngym",
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="Env keyword argument as key=value (YAML value).")] = None,
) -> None:
    """Serve turngym tools over MCP (Model Context Protocol) until the client leaves or Ctrl+C / SIGTERM."""
    from turngym.cli.commands import _env_id, parse_sets
    from turngym.tools.mcp_server import env_tools, load_tools, serve_tools

    if transport not in ("stdio", "http"):
        raise typer.BadParameter(f"expected stdio or http, got {transport!r}", param_hint="--transport")
    if env is None and not tools:
        raise typer.BadParameter("expected --env ENV_ID or --tools module:attr, got neither", param_hint="--env")
    served, hidden, made = [], {}, None
    try:
        if env is not None:
            served, hidden, made = env_tools(_env_id(env), seed=seed, **parse_sets(set_))
        for reference in tools or []:
            served += load_tools(reference)
        serve_tools(served, name=name, transport=transport, host=host, port=port, hidden=hidden)
    except (TypeError, ValueError) as exc:  # bad --tools, duplicate names, tools that need an env
        raise typer.BadParameter(str(exc)) from None
    except OSError as exc:  # a port in use
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass
    finally:
        if made is not None:
            made.close()


@serve_app.command("policy")
def policy_server(
    model: Annotated[Path, typer.Option("--model", help="Local model folder (from `turngym model prepare`).", file_okay=False)],
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).", min=0, max=65535)] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
    name: Annotated[str | None, typer.Option(help="Model name clients send (default: the folder's name).")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per answer when a request sets no max_tokens.", min=1)] = 256,
    device: Annotated[str | None, typer.Option(help="Torch device (default: cuda when there is one, else cpu).")] = None,
    dtype: Annotated[str | None, typer.Option(help="float32, bfloat16, float16 (default: bfloat16 on cuda).")] = None,
) -> None:
    """Serve a local model at /v1/chat/completions, /v1/completions (token ids too), /v1/models until Ctrl+C or SIGTERM."""
    from turngym.agents.policy_server import serve

    try:
        serve(model, host, port, model_name=name, max_new_tokens=max_new_tokens, device=device, dtype=dtype)
    except (OSError, ValueError, RuntimeError) as exc:  # no model folder, a bad dtype, a port in use
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@serve_app.command("openenv")
def openenv_server(
    env: Annotated[str, typer.Option("--env", help="The env ID to serve (`turngym list` prints them).")],
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).", min=0, max=65535)] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 exposes it to the network.")] = "127.0.0.1",
    max_sessions: Annotated[int, typer.Option(help="Most concurrent WebSocket sessions (one env each).", min=1)] = 8,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="Env keyword argument as key=value (YAML value).")] = None,
) -> None:
    """Serve an env over OpenEnv (openenv-core's WebSocket /ws, one env per session) until Ctrl+C or SIGTERM."""
    from turngym.cli.commands import parse_sets
    from turngym.envs.errors import EnvArgumentError, UnknownEnvError
    from turngym.envs.registration import spec

    env_kwargs = parse_sets(set_)
    try:
        spec(env)  # before the seconds openenv-core takes to import
    except UnknownEnvError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        from turngym.adapters.openenv import serve
    except ImportError as exc:  # openenv-core is not installed
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        serve(env, host, port, max_sessions=max_sessions, **env_kwargs)
    except EnvArgumentError as exc:  # a bad --set
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except (OSError, RuntimeError) as exc:  # a port in use, a server that stopped
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
