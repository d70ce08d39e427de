using System.Net.Http.Json;
using System.Text.Json;
using SharpCnn.Data;
using SharpCnn.Images;

namespace SharpCnn.Web.Tests.Serving;

/// <summary>POST /predict answers what Classifier.Predict says, for every way of sending an image; the other endpoints answer.</summary>
[Collection(ServingCollection.Name)]
public sealed class PredictEndpointTests(ServedModel served)
{
    [Fact]
    public async Task ADigitGetsClassifierPredictsClassesAndProbabilities()
    {
        for (int i = 0; i < 5; i++)
        {
            byte[] png = served.Png(i);
            var expected = served.Expected(png);
            var (status, json) = await served.PostAsync(png, "?top=10");
            Assert.Equal(200, status);
            Assert.Equal("digits.scnn", json.GetProperty("model").GetString());
            Assert.True(json.GetProperty("milliseconds").GetDouble() > 0);
            var classes = json.GetProperty("classes").EnumerateArray().ToArray();
            Assert.Equal(10, classes.Length);
            var top = expected.Top(10);
            for (int k = 0; k < 10; k++)
            {
                Assert.Equal(top[k].Class, classes[k].GetProperty("label").GetInt32());
                Assert.Equal(top[k].Class.ToString(), classes[k].GetProperty("name").GetString());
                Assert.Equal(top[k].Probability, classes[k].GetProperty("probability").GetDouble(), 1e-12);
            }
        }
    }

    [Fact]
    public async Task TopSaysHowManyClassesAndDefaultsToThree()
    {
        Assert.Equal(3, (await served.PostAsync(served.Png(0))).Json.GetProperty("classes").GetArrayLength());
        Assert.Equal(1, (await served.PostAsync(served.Png(0), "?top=1")).Json.GetProperty("classes").GetArrayLength());
        Assert.Equal(10, (await served.PostAsync(served.Png(0), "?top=50")).Json.GetProperty("classes").GetArrayLength());
    }

    [Theory]
    [InlineData(ImageFormat.Jpeg)]
    [InlineData(ImageFormat.WebP)]
    [InlineData(ImageFormat.Bmp)]
    [InlineData(ImageFormat.Gif)]
    public async Task EveryFormatTheDecoderReadsIsAccepted(ImageFormat format)
    {
        var digit = PixelImage.FromDataSet(served.Test, 2);
        byte[] bytes = format switch
        {
            ImageFormat.Bmp => SharpCnn.Tests.Hostile.BmpBytes.Rgb24(28, 28, (x, y) => (digit[0, x, y], digit[0, x, y], digit[0, x, y])),
            ImageFormat.Gif => SharpCnn.Tests.Hostile.GifBytes.Indexed(28, 28, (x, y) => digit[0, x, y], SharpCnn.Tests.Hostile.GifBytes.GreyPalette()),
            _ => ImageEncoder.Encode(digit.ToChannels(3), format),
        };
        var (status, json) = await served.PostAsync(bytes, "", "application/octet-stream");
        Assert.Equal(200, status);
        Assert.Equal(served.Expected(bytes).Class, json.GetProperty("classes")[0].GetProperty("label").GetInt32());
    }

    [Fact]
    public async Task AMultipartFormFieldImageIsAccepted()
    {
        byte[] png = served.Png(3);
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(png);
        file.Headers.ContentType = new("image/png");
        form.Add(file, "image", "digit.png");
        using var response = await served.Client.PostAsync("/predict", form, TestContext.Current.CancellationToken);
        Assert.Equal(200, (int)response.StatusCode);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Equal(served.Expected(png).Class, json.GetProperty("classes")[0].GetProperty("label").GetInt32());
    }

    [Fact]
    public async Task HealthModelMetricsAndThePageAnswer()
    {
        Assert.Equal("ok", (await served.Client.GetFromJsonAsync<JsonElement>("/health", TestContext.Current.CancellationToken)).GetProperty("status").GetString());
        var model = await served.Client.GetFromJsonAsync<JsonElement>("/model", TestContext.Current.CancellationToken);
        Assert.Equal(ServedModel.Spec, model.GetProperty("spec").GetString());
        Assert.Equal(["input", "conv5x5x8:same", "relu", "maxpool2", "flatten", "dense10"], model.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("layer").GetString()!));
        await served.PostAsync(served.Png(0));
        var metrics = await served.Client.GetFromJsonAsync<JsonElement>("/metrics", TestContext.Current.CancellationToken);
        Assert.True(metrics.GetProperty("predictions").GetInt64() >= 1);
        Assert.True(metrics.GetProperty("batches").GetInt64() >= 1);
        Assert.True(metrics.GetProperty("latencyP99Ms").GetDouble() >= metrics.GetProperty("latencyP50Ms").GetDouble());
        string prometheus = await served.Client.GetStringAsync("/metrics?format=prometheus", TestContext.Current.CancellationToken);
        Assert.Contains("sharpcnn_requests_total{status=\"200\"}", prometheus);
        Assert.Contains("sharpcnn_latency_ms{quantile=\"0.99\"}", prometheus);
        string page = await served.Client.GetStringAsync("/", TestContext.Current.CancellationToken);
        Assert.Contains("<canvas id=\"pad\"", page);
        Assert.Contains("POST /predict", await served.Client.GetStringAsync("/serve/serve.js", TestContext.Current.CancellationToken) + page);
    }
}
