using System.CommandLine;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using SharpCnn.Cli;
using SharpCnn.Training;

namespace SharpCnn.Web.Tests.Live;

/// <summary>
/// <c>sharpcnn train --live</c> in a real browser: the page's step curve grows and its per-layer table fills with
/// numbers while a short run trains; the stop button ends the run cleanly with a checkpoint that resumes.
/// The run is the CLI's own train command, in this process, on a tiny model and a few hundred digits; it is given
/// far more epochs than the test waits for, so the stop button (not the epoch count) ends it.
/// </summary>
public sealed partial class LiveTrainingPageTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3); // a heavily loaded 2-core machine
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-live-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [GeneratedRegex(@"live page: (http://127\.0\.0\.1:\d+/)")]
    private static partial Regex UrlLine();

    [Fact]
    public async Task TheStepCurveGrowsTheLayerTableFillsAndStopWritesALoadableCheckpoint()
    {
        string model = Path.Combine(dir, "tiny.scnn");
        var error = new UrlWriter();
        var output = new StringWriter();
        var run = Task.Factory.StartNew(() => CommandLine.Run(
            ["train", "--model", "conv5x5x4:same,relu,maxpool2,flatten,dense10", "--limit", "600", "--test-limit", "200", "--epochs", "1000",
             "--batch", "16", "--plain", "--threads", "1", "--output", model, "--live"],
            new InvocationConfiguration { Output = output, Error = error }), TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var url = await Task.WhenAny(error.Url, run) == error.Url ? await error.Url : throw new InvalidOperationException($"train ended before its page started: {error}");

        var (playwright, browser) = await Browsers.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync();
            page.SetDefaultTimeout((float)Patience.TotalMilliseconds);
            await page.GotoAsync(url);
            Assert.Equal("SharpCnn: watch it learn", await page.TitleAsync());

            // The step curve grows: some points, then more.
            await page.WaitForFunctionAsync("() => Number(document.body.dataset.stepPoints || 0) >= 3");
            int first = int.Parse((await page.GetAttributeAsync("body", "data-step-points"))!);
            await page.WaitForFunctionAsync($"() => Number(document.body.dataset.stepPoints || 0) > {first}");

            // The per-layer table fills: a row per parameter tensor (or layer), with numbers for the gradient norms.
            await page.WaitForFunctionAsync("() => Number(document.body.dataset.layerRows || 0) >= 4");
            var rows = await page.Locator("#layers tbody tr").AllInnerTextsAsync();
            Assert.Contains(rows, r => r.StartsWith("1 conv5x5x4", StringComparison.Ordinal));
            var gradientNorms = await page.Locator("#layers tbody tr td:nth-last-child(2)").AllInnerTextsAsync();
            Assert.Contains(gradientNorms, t => double.TryParse(t, System.Globalization.CultureInfo.InvariantCulture, out double g) && g > 0);

            // An epoch's figures and confusion matrix, and the pictures.
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#confusion tr').length === 11");
            await page.WaitForFunctionAsync("() => document.getElementById('kernels').naturalWidth > 0 && document.getElementById('feature-maps').naturalWidth > 0");
            await Browsers.ScreenshotAsync(page, "live-training");

            await page.ClickAsync("#stop");
            int exit = await run.WaitAsync(Patience, TestContext.Current.CancellationToken);
            Assert.True(exit == 0, $"train exited {exit}: {error}");
            await page.WaitForFunctionAsync("() => document.body.dataset.done === 'true'");
            Assert.Contains("stopped (stop button)", await page.InnerTextAsync("#status"));
            await Browsers.ScreenshotAsync(page, "live-training-stopped");
        }

        string checkpoint = Path.Combine(dir, "tiny.checkpoint.scnn");
        Assert.Contains("stopped (stop button)", output.ToString());
        Assert.True(File.Exists(checkpoint), $"no checkpoint beside the model: {output}");
        var resumed = Trainer<float>.Resume(checkpoint);
        Assert.True(resumed.Optimizer.StepCount > 0);
    }

    /// <summary>Standard error that hands over the live page's URL as soon as it is printed.</summary>
    private sealed class UrlWriter : StringWriter
    {
        private readonly TaskCompletionSource<string> url = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<string> Url => url.Task;

        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && UrlLine().Match(value) is { Success: true } m) url.TrySetResult(m.Groups[1].Value);
        }
    }
}
