using Microsoft.Playwright;

namespace SharpCnn.Web.Tests.Serving;

/// <summary>A real browser (Chromium) opens the server's page, sees the model's layers, draws a digit with the mouse and reads the prediction.</summary>
[Collection(ServingCollection.Name)]
public sealed class ServePageBrowserTests(ServedModel served)
{
    [Fact]
    public async Task DrawingADigitOnTheCanvasShowsAPrediction()
    {
        var (playwright, browser) = await Browsers.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1000, Height = 900 } });
            var errors = new List<string>();
            page.PageError += (_, e) => errors.Add(e);
            await page.GotoAsync(served.Url.ToString());
            await page.WaitForSelectorAsync("#layers tbody tr:nth-child(6)");
            Assert.Equal("digits.scnn", await page.InnerTextAsync("#model-name"));
            Assert.Contains("conv5x5x8:same", await page.InnerTextAsync("#layers"));

            long before = served.Server.Metrics.Predictions;
            // A "1": one vertical stroke down the middle of the 280 x 280 canvas.
            var box = (await page.QuerySelectorAsync("#pad"))!;
            var at = (await box.BoundingBoxAsync())!;
            await page.Mouse.MoveAsync(at.X + 140, at.Y + 40);
            await page.Mouse.DownAsync();
            await page.Mouse.MoveAsync(at.X + 140, at.Y + 240, new MouseMoveOptions { Steps = 20 });
            await page.Mouse.UpAsync();
            await page.WaitForSelectorAsync("#best", new PageWaitForSelectorOptions { Timeout = 30_000 });
            string best = await page.InnerTextAsync("#best");
            Assert.Equal("1", best); // the fixture's model is trained with a fixed seed; a vertical stroke is a 1 to it (95 %)
            Assert.Equal(3, await page.Locator("#prediction tbody tr").CountAsync());
            Assert.True(served.Server.Metrics.Predictions > before, "the page's prediction did not come from POST /predict");
            Assert.Empty(errors);
            await Browsers.ScreenshotAsync(page, "serve-draw");
        }
    }
}
