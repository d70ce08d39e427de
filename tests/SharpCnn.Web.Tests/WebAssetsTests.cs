using System.Text;

namespace SharpCnn.Web.Tests;

public sealed class WebAssetsTests
{
    [Fact]
    public void TheStylesheetIsEmbeddedAndServedAsCss()
    {
        Assert.Contains("style.css", WebAssets.Names);
        Assert.Contains("body", Encoding.UTF8.GetString(WebAssets.Read("style.css")!));
        Assert.Equal("text/css; charset=utf-8", WebAssets.ContentType("style.css"));
        Assert.Null(WebAssets.Read("no-such-file.js"));
    }

    [Fact]
    public async Task TheSystemChromiumRunsUnderPlaywright()
    {
        var (playwright, browser) = await Browsers.LaunchAsync();
        using (playwright)
        await using (browser)
        {
            var page = await browser.NewPageAsync();
            await page.SetContentAsync("<html><head><title>sharpcnn</title></head><body><h1 style='font-size:80px'>SharpCnn</h1></body></html>");
            Assert.Equal("sharpcnn", await page.TitleAsync());
            await Browsers.ScreenshotAsync(page, "smoke");
        }
    }
}
