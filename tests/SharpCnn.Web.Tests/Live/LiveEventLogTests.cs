using System.Net;
using System.Text;
using SharpCnn.Web.Live;

namespace SharpCnn.Web.Tests.Live;

/// <summary>The live page's event history (bounded, for late clients) and its control endpoint's answers to bad requests.</summary>
public sealed class LiveEventLogTests
{
    private static int Count(string history, string type) => history.Split($"event: {type}\n").Length - 1;

    [Fact]
    public void ALateClientGetsTheRunTheEpochsTheThinnedStepsAndOnlyTheLatestOfTheRest()
    {
        var log = new LiveEventLog();
        log.Publish("run", new { spec = "dense10" });
        for (int i = 1; i <= 10_000; i++) log.Publish("step", new { step = i, loss = 1.0 / i });
        for (int e = 1; e <= 3; e++) log.Publish("epoch", new { epoch = e });
        for (int k = 0; k < 50; k++) log.Publish("layers", new { step = k });
        log.Publish("done", new { stop_reason = "epochs (3)" });
        var (history, _) = log.Subscribe();
        Assert.Equal(1, Count(history, "run"));
        Assert.Equal(3, Count(history, "epoch"));
        Assert.Equal(1, Count(history, "layers"));
        Assert.Contains("{\"step\":49}", history);
        int steps = Count(history, "step");
        Assert.InRange(steps, LiveEventLog.MaxSteps / 2, LiveEventLog.MaxSteps);
        Assert.Contains("{\"step\":1,", history); // thinning keeps the start of the run
        Assert.Contains("{\"step\":10000,", history); // and its latest step
        Assert.StartsWith("event: run", history);
        Assert.EndsWith("event: done\ndata: {\"stop_reason\":\"epochs (3)\"}\n\n", history);
    }

    [Fact]
    public async Task AConnectedClientReceivesNewEventsUntilTheLogCloses()
    {
        var log = new LiveEventLog();
        var (history, reader) = log.Subscribe();
        Assert.Equal("", history);
        log.Publish("step", new { step = 1, loss = double.NaN is var nan ? LiveEventLog.Finite(nan) : 0 });
        Assert.True(reader.TryRead(out string? text));
        Assert.Equal("event: step\ndata: {\"step\":1}\n\n", text); // a non-finite number is left out
        log.Close();
        Assert.False(await reader.WaitToReadAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task TheControlEndpointAnswersBadRequestsWithAClearError()
    {
        var control = new Recorder();
        await using var server = await LiveServer.StartAsync(new LiveEventLog(), control);
        using var http = new HttpClient();
        var ct = TestContext.Current.CancellationToken;
        async Task<(HttpStatusCode, string)> Post(string body)
        {
            var response = await http.PostAsync(new Uri(server.Url, "/control"), new StringContent(body, Encoding.UTF8, "application/json"), ct);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(ct));
        }
        Assert.Equal((HttpStatusCode.OK, "{\"state\":\"paused\"}"), await Post("{\"action\":\"pause\"}"));
        var (status, text) = await Post("{\"action\":\"explode\"}");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("unknown action", text);
        Assert.Equal(HttpStatusCode.BadRequest, (await Post("not json")).Item1);
        Assert.Equal(HttpStatusCode.BadRequest, (await Post("[1,2]")).Item1);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await Post("{\"action\":\"" + new string('x', 100_000) + "\"}")).Item1);
        Assert.Equal(["pause", "explode"], control.Actions);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri(server.Url, "/live/../../secret"), ct)).StatusCode);
        var page = await http.GetStringAsync(server.Url, ct);
        Assert.Contains("watch it learn", page);
        Assert.Contains("uPlot", await http.GetStringAsync(new Uri(server.Url, "/live/vendor/uPlot.iife.min.js"), ct));
    }

    private sealed class Recorder : ILiveControl
    {
        public List<string> Actions { get; } = [];

        public string Apply(string action)
        {
            Actions.Add(action);
            return action == "pause" ? "paused" : throw new ArgumentException($"unknown action '{action}'");
        }
    }
}
