"""`langfuse.langchain.CallbackHandler` on an LCEL chain (prompt | fake chat model |
parser) and on a LangGraph StateGraph with an agent node and a ToolNode."""

from __future__ import annotations

import pytest
# Module level: LangGraph resolves the node/branch functions' type hints (which are strings
# under `from __future__ import annotations`) in this module's globals.
from langgraph.graph import END, START, MessagesState, StateGraph

from checks import assert_subset, parent_map
from read_api import Scenario, all_named, attempt, by_name
from sdk_logs import SDK_LOGS

JOKE = "Why did the bear cross the road? Because it was a grizzly situation."
WEATHER = "It is sunny in Rome, 24C."
FINAL = "It's sunny in Rome (24C)."


@pytest.fixture(scope="module")
def chain_scenario(langfuse, _read_api):
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from langfuse.langchain import CallbackHandler

    mark = SDK_LOGS.mark()
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are funny."), ("user", "Tell a joke about {topic}")]
    )
    model = FakeMessagesListChatModel(
        responses=[
            AIMessage(
                content=JOKE,
                response_metadata={"model_name": "fake-gpt-4o-mini", "finish_reason": "stop"},
                usage_metadata={"input_tokens": 11, "output_tokens": 14, "total_tokens": 25},
            )
        ]
    )
    chain = prompt | model | StrOutputParser()
    handler = CallbackHandler()
    result = chain.invoke(
        {"topic": "bears"},
        config={
            "callbacks": [handler],
            "run_name": "joke-chain",
            "tags": ["lc-tag"],
            "metadata": {
                "langfuse_user_id": "lc-user-1",
                "langfuse_session_id": "lc-session-1",
                "langfuse_tags": ["lf-tag"],
                "custom_key": "custom_value",
            },
        },
    )
    assert result == JOKE
    langfuse.flush()
    trace_id = handler.last_trace_id
    assert trace_id, "the handler did not record a trace id"
    return Scenario(
        trace_id=trace_id,
        trace=attempt(lambda: _read_api.wait_trace(trace_id, observations=4)),
        sdk_errors=SDK_LOGS.errors_since(mark),
    )


@pytest.fixture(scope="module")
def graph_scenario(langfuse, _read_api):
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.tools import tool
    from langgraph.prebuilt import ToolNode

    from langfuse.langchain import CallbackHandler

    @tool
    def get_weather(city: str) -> str:
        """Returns the weather for a city."""
        return WEATHER if city == "Rome" else "unknown"

    model = FakeMessagesListChatModel(
        responses=[
            AIMessage(
                content="",
                tool_calls=[{"name": "get_weather", "args": {"city": "Rome"}, "id": "call_1", "type": "tool_call"}],
                response_metadata={"model_name": "fake-gpt-4o"},
                usage_metadata={"input_tokens": 20, "output_tokens": 5, "total_tokens": 25},
            ),
            AIMessage(
                content=FINAL,
                response_metadata={"model_name": "fake-gpt-4o"},
                usage_metadata={
                    "input_tokens": 40,
                    "output_tokens": 9,
                    "total_tokens": 49,
                    "input_token_details": {"cache_read": 10},
                },
            ),
        ]
    )

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    def route(state: MessagesState) -> str:
        return "tools" if state["messages"][-1].tool_calls else END

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([get_weather]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["tools", END])
    graph.add_edge("tools", "agent")
    app = graph.compile()

    handler = CallbackHandler()
    out = app.invoke(
        {"messages": [HumanMessage(content="What's the weather in Rome?")]},
        config={"callbacks": [handler], "metadata": {"langfuse_session_id": "graph-session"}},
    )
    assert out["messages"][-1].content == FINAL
    langfuse.flush()
    trace_id = handler.last_trace_id
    assert trace_id, "the handler did not record a trace id"
    # LangGraph → agent ×2, FakeMessagesListChatModel ×2, route ×2, tools, get_weather
    return Scenario(trace_id=trace_id, trace=attempt(lambda: _read_api.wait_trace(trace_id, observations=9)))


# -- LCEL chain ------------------------------------------------------------------------


def test_chain_sdk_reported_no_errors(chain_scenario):
    assert chain_scenario["sdk_errors"] == [], "the SDK logged export/callback problems"


def test_chain_tree_and_types(chain_scenario):
    observations = chain_scenario["trace"]["observations"]
    assert {o["name"]: o["type"] for o in observations} == {
        "joke-chain": "CHAIN",
        "ChatPromptTemplate": "CHAIN",
        "FakeMessagesListChatModel": "GENERATION",
        "StrOutputParser": "CHAIN",
    }
    assert parent_map(observations) == {
        "joke-chain": None,
        "ChatPromptTemplate": "joke-chain",
        "FakeMessagesListChatModel": "joke-chain",
        "StrOutputParser": "joke-chain",
    }


def test_chain_trace_attributes(chain_scenario):
    trace = chain_scenario["trace"]
    assert trace["name"] == "joke-chain"
    assert trace["userId"] == "lc-user-1"
    assert trace["sessionId"] == "lc-session-1"
    assert sorted(trace["tags"]) == ["lc-tag", "lf-tag"]
    assert_subset(trace["metadata"], {"custom_key": "custom_value"}, "trace metadata")
    assert trace["input"] == {"topic": "bears"}
    assert trace["output"] == JOKE


def test_chain_generation_messages(chain_scenario):
    gen = by_name(chain_scenario["trace"]["observations"], "FakeMessagesListChatModel")
    assert gen["input"] == [
        {"role": "system", "content": "You are funny."},
        {"role": "user", "content": "Tell a joke about bears"},
    ]
    assert gen["output"] == {"role": "assistant", "content": JOKE}
    assert_subset(gen["usageDetails"], {"input": 11, "output": 14, "total": 25}, "usageDetails")
    assert gen["usage"]["total"] == 25
    assert_subset(gen["metadata"], {"custom_key": "custom_value", "ls_model_type": "chat"}, "generation metadata")

    root = by_name(chain_scenario["trace"]["observations"], "joke-chain")
    assert root["input"] == {"topic": "bears"}
    assert root["output"] == JOKE
    assert_subset(root["metadata"], {"is_langchain_root": True}, "root metadata")


# -- LangGraph -------------------------------------------------------------------------


def test_graph_tree_and_types(graph_scenario):
    obs = graph_scenario["trace"]["observations"]
    by_id = {o["id"]: o for o in obs}
    root = by_name(obs, "LangGraph")
    assert root["type"] == "CHAIN"
    assert root["parentObservationId"] is None

    agents = all_named(obs, "agent")
    assert len(agents) == 2
    for a in agents:
        assert a["type"] == "AGENT", "a LangGraph node named 'agent' maps to the agent type"
        assert a["parentObservationId"] == root["id"]

    tools = by_name(obs, "tools")
    assert tools["type"] == "CHAIN"
    assert tools["parentObservationId"] == root["id"]

    tool = by_name(obs, "get_weather")
    assert tool["type"] == "TOOL"
    assert tool["parentObservationId"] == tools["id"]

    gens = all_named(obs, "FakeMessagesListChatModel")
    assert len(gens) == 2
    for g in gens:
        assert g["type"] == "GENERATION"
        assert by_id[g["parentObservationId"]]["name"] == "agent"

    routes = all_named(obs, "route")
    assert len(routes) == 2 and all(r["type"] == "CHAIN" for r in routes)
    assert sorted(r["output"] for r in routes) == ["__end__", "tools"]
    assert len(obs) == 9


def test_graph_trace_attributes(graph_scenario):
    trace = graph_scenario["trace"]
    assert trace["name"] == "LangGraph"
    assert trace["sessionId"] == "graph-session"
    assert trace["input"]["messages"][0]["content"] == "What's the weather in Rome?"
    assert trace["output"]["messages"][-1]["content"] == FINAL


def test_graph_tool_call(graph_scenario):
    tool = by_name(graph_scenario["trace"]["observations"], "get_weather")
    assert tool["input"] == {"city": "Rome"}
    assert tool["output"]["content"] == WEATHER
    assert tool["output"]["tool_call_id"] == "call_1"
    assert_subset(tool["metadata"], {"langgraph_node": "tools", "tool_call_id": "call_1"}, "tool metadata")


def test_graph_generations(graph_scenario):
    gens = sorted(
        all_named(graph_scenario["trace"]["observations"], "FakeMessagesListChatModel"),
        key=lambda o: o["startTime"],
    )
    first, second = gens
    assert first["input"] == [{"role": "user", "content": "What's the weather in Rome?"}]
    assert first["output"]["role"] == "assistant"
    assert first["output"]["tool_calls"] == [
        {"name": "get_weather", "args": {"city": "Rome"}, "id": "call_1", "type": "tool_call"}
    ]
    assert_subset(first["usageDetails"], {"input": 20, "output": 5, "total": 25}, "first usageDetails")
    assert_subset(first["metadata"], {"langgraph_node": "agent", "langgraph_step": 1}, "first metadata")

    assert second["output"] == {"role": "assistant", "content": FINAL}
    assert second["input"][0] == {"role": "user", "content": "What's the weather in Rome?"}
    assert second["input"][-1]["role"] == "tool"
    assert second["input"][-1]["content"] == WEATHER
    # The handler subtracts cache reads from input: 40 in → input 30 + input_cache_read 10.
    assert_subset(
        second["usageDetails"],
        {"input": 30, "input_cache_read": 10, "output": 9, "total": 49},
        "second usageDetails",
    )
