using System.CommandLine;
using System.Net;
using System.Net.Http.Json;
using SharpCnn.Cli;
using SharpCnn.Web.Live;

namespace SharpCnn.Web.Tests.Live;

/// <summary><c>view</c>'s replay: a train --json log and a checkpoint become the live page's events; the page draws them; bad files get a clear error.</summary>
public sealed class LiveReplayTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-replay-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private (string Log, string Checkpoint) Train()
    {
        string checkpoint = Path.Combine(dir, "run.ckpt");
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = CommandLine.Run(["train", "--model", "conv3x3x4,relu,maxpool2,flatten,dense10", "--epochs", "2", "--limit", "600", "--test-limit", "200",
            "--lr", "0.01", "--json", "--checkpoint", checkpoint, "--checkpoint-every", "20", "--threads", "1"], new InvocationConfiguration { Output = output, Error = error });
        Assert.True(exit == 0, error.ToString());
        string log = Path.Combine(dir, "run.jsonl");
        File.WriteAllText(log, output.ToString());
        return (log, checkpoint);
    }

    [Fact]
    public async Task TheReplayedLogShowsTheStepCurveTheEpochsTheLayersAndTheFinalConfusionMatrix()
    {
        var (log, _) = Train();
        var events = new LiveEventLog();
        Assert.Equal("training log with 2 epoch(s)", LiveReplay.Load(log, events));
        await using var server = await LiveServer.StartAsync(events, null);
        using (var http = new HttpClient())
        {
            var refused = await http.PostAsJsonAsync(new Uri(server.Url, "/control"), new { action = "stop" }, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        }
        var (playwright, browser) = await Browsers.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync();
            page.SetDefaultTimeout(120_000);
            await page.GotoAsync(server.Url.ToString());
            await page.WaitForFunctionAsync("() => document.body.dataset.done === 'true'");
            await page.WaitForFunctionAsync("() => window.sharpcnnLive.epochs.length === 2 && window.sharpcnnLive.steps.length >= 2");
            await page.WaitForFunctionAsync("() => Number(document.body.dataset.layerRows || 0) >= 4");
            Assert.Equal(11, await page.Locator("#confusion tr").CountAsync());
            Assert.Contains("done: epochs (2)", await page.InnerTextAsync("#status"));
            Assert.False(await page.IsVisibleAsync("#stop"));
            await Browsers.ScreenshotAsync(page, "view-log");
        }
    }

    [Fact]
    public void ACheckpointReplaysWhereTheRunStoodAndTheKernels()
    {
        var (_, checkpoint) = Train();
        var events = new LiveEventLog();
        Assert.StartsWith("checkpoint at step ", LiveReplay.Load(checkpoint, events));
        var (history, _) = events.Subscribe();
        Assert.Contains("event: run", history);
        Assert.Contains("event: pictures", history);
        Assert.Contains("data:image/png;base64,", history);
        Assert.Contains("a checkpoint records no finished epochs", history);
    }

    [Fact]
    public void FilesThatAreNeitherALogNorACheckpointGetAClearError()
    {
        string text = Path.Combine(dir, "notes.txt");
        File.WriteAllText(text, "hello");
        Assert.Throws<FileFormatException>(() => LiveReplay.Load(text, new LiveEventLog()));
        string noStart = Path.Combine(dir, "epochs.jsonl");
        File.WriteAllText(noStart, "{\"event\":\"epoch\",\"epoch\":1}\n");
        Assert.Contains("no 'start' object", Assert.Throws<FileFormatException>(() => LiveReplay.Load(noStart, new LiveEventLog())).Message);
        string broken = Path.Combine(dir, "broken.jsonl");
        File.WriteAllText(broken, "{\"event\":\"start\"}\n{\"event\":\n");
        Assert.Contains("line 2", Assert.Throws<FileFormatException>(() => LiveReplay.Load(broken, new LiveEventLog())).Message);
        Assert.Throws<FileNotFoundException>(() => LiveReplay.Load(Path.Combine(dir, "missing.jsonl"), new LiveEventLog()));
    }

    [Fact]
    public void ViewOfABadFileFailsWithOneLine()
    {
        string text = Path.Combine(dir, "notes.txt");
        File.WriteAllText(text, "hello");
        var error = new StringWriter();
        int exit = CommandLine.Run(["view", text], new InvocationConfiguration { Output = new StringWriter(), Error = error });
        Assert.NotEqual(0, exit);
        Assert.StartsWith("error: ", error.ToString());
        Assert.Contains("notes.txt", error.ToString());
    }
}
