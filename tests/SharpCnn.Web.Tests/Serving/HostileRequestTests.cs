using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using SharpCnn.Data;
using SharpCnn.Images;

namespace SharpCnn.Web.Tests.Serving;

/// <summary>
/// Every hostile or mistaken request gets its 4xx, with a JSON message saying what is wrong, within its time bound;
/// and after each, a good request still gets the right answer (the server keeps answering).
/// </summary>
[Collection(ServingCollection.Name)]
public sealed class HostileRequestTests(ServedModel served)
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(10);

    private async Task AssertRefusedAsync(byte[] body, string query, string contentType, int status, string message)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (got, json) = await served.PostAsync(body, query, contentType);
        Assert.True(clock.Elapsed < Quick, $"answered in {clock.Elapsed}");
        Assert.Equal(status, got);
        Assert.Contains(message, json.GetProperty("error").GetString());
        await served.AssertStillAnswersAsync();
    }

    [Fact]
    public Task NotAnImageIs400() =>
        AssertRefusedAsync(Encoding.UTF8.GetBytes("hello, this is not a picture"), "", "image/png", 400, "expected a JPEG, PNG, WebP, BMP or GIF image");

    [Fact]
    public Task JsonInsteadOfAnImageIs400() =>
        AssertRefusedAsync(Encoding.UTF8.GetBytes("{\"image\": [0, 0, 0]}"), "", "application/json", 400, "not an image of these formats");

    [Fact]
    public Task AnEmptyBodyIs400() => AssertRefusedAsync([], "", "image/png", 400, "the body is empty");

    [Fact]
    public Task ATruncatedPngIs400() => AssertRefusedAsync(served.Png(0)[..120], "", "image/png", 400, "PNG");

    [Fact]
    public async Task ATruncatedJpegIs400()
    {
        byte[] jpeg = ImageEncoder.Encode(PixelImage.FromDataSet(served.Test, 0), ImageFormat.Jpeg);
        await AssertRefusedAsync(jpeg[..(jpeg.Length / 3)], "", "image/jpeg", 400, "JPEG");
    }

    [Fact]
    public async Task APngDeclaring100000By100000Is413WithTheDecodersMessage()
    {
        // A valid PNG header declaring 100,000 x 100,000 grey pixels, and a few bytes of data.
        var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(png, "IHDR", [.. BigEndian(100_000), .. BigEndian(100_000), 8, 0, 0, 0, 0]);
        Chunk(png, "IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        Chunk(png, "IEND", []);
        await AssertRefusedAsync(png.ToArray(), "", "image/png", 413, "declares a 100000x100000 image");

        static byte[] BigEndian(int v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];
        static void Chunk(Stream s, string type, byte[] data)
        {
            s.Write(BigEndian(data.Length));
            byte[] typed = [.. Encoding.ASCII.GetBytes(type), .. data];
            s.Write(typed);
            s.Write(BigEndian((int)System.IO.Hashing.Crc32.HashToUInt32(typed)));
        }
    }

    [Theory]
    [InlineData("?top=0")]
    [InlineData("?top=-1")]
    [InlineData("?top=abc")]
    [InlineData("?top=1&top=2")]
    [InlineData("?top=99999999999999")]
    public Task ABadTopIs400(string query) => AssertRefusedAsync(served.Png(0), query, "image/png", 400, "top must be a whole number from 1 to 10");

    [Fact]
    public async Task AMultipartFormWithoutAnImageFieldIs400()
    {
        using var form = new MultipartFormDataContent { { new StringContent("7"), "digit" } };
        using var response = await served.Client.PostAsync("/predict", form, TestContext.Current.CancellationToken);
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Contains("no field 'image'", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        await served.AssertStillAnswersAsync();
    }

    [Theory]
    [InlineData("GET", "/predict", 405, "GET is not allowed on /predict")]
    [InlineData("PUT", "/predict", 405, "PUT is not allowed on /predict")]
    [InlineData("DELETE", "/health", 405, "DELETE is not allowed on /health")]
    [InlineData("GET", "/no/such/thing", 404, "no such endpoint: /no/such/thing")]
    [InlineData("POST", "/predictions", 404, "no such endpoint: /predictions")]
    public async Task AWrongMethodIs405AndAnUnknownPathIs404(string method, string path, int status, string message)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        using var response = await served.Client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Contains(message, JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("error").GetString());
        await served.AssertStillAnswersAsync();
    }

    [Fact]
    public async Task A100MegabyteBodyIs413AtOnce()
    {
        const int size = 100 << 20;
        var (status, elapsed, text) = await served.RawAsync(
            $"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: {size}\r\n\r\n",
            async (stream, stop) =>
            {
                var chunk = new byte[1 << 20];
                for (int sent = 0; sent < size; sent += chunk.Length) await stream.WriteAsync(chunk, stop);
            },
            Quick);
        Assert.Equal(413, status);
        Assert.Contains("the most accepted is 8388608", text);
        Assert.True(elapsed < Quick, $"{elapsed}");
        await served.AssertStillAnswersAsync();
    }

    [Fact]
    public async Task A100MegabyteChunkedBodyIs413WhenItPassesTheLimit()
    {
        // No Content-Length: the limit is found while reading.
        var (status, _, text) = await served.RawAsync(
            "POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n",
            async (stream, stop) =>
            {
                var chunk = new byte[1 << 20];
                byte[] size = Encoding.ASCII.GetBytes($"{chunk.Length:x}\r\n");
                for (int i = 0; i < 100; i++)
                {
                    await stream.WriteAsync(size, stop);
                    await stream.WriteAsync(chunk, stop);
                    await stream.WriteAsync("\r\n"u8.ToArray(), stop);
                }
                await stream.WriteAsync("0\r\n\r\n"u8.ToArray(), stop);
            },
            Quick);
        Assert.Equal(413, status);
        Assert.Contains("larger than the 8388608 bytes accepted", text);
        await served.AssertStillAnswersAsync();
    }

    [Fact]
    public async Task ASlowDripBodyIs408WithinTheGracePeriodAndABitMore()
    {
        // 1 byte a second of a declared 1,000-byte body: under the 240 bytes/s floor once the 2 s grace is over.
        var bound = TimeSpan.FromSeconds(15);
        var (status, elapsed, _) = await served.RawAsync(
            "POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n",
            async (stream, stop) =>
            {
                for (int i = 0; i < 1000; i++)
                {
                    await stream.WriteAsync(new byte[] { 0x89 }, stop);
                    await Task.Delay(1000, stop);
                }
            },
            bound);
        Assert.Equal(408, status);
        Assert.True(elapsed >= ServedModel.Options.BodyGracePeriod, $"refused after {elapsed}, before the grace period");
        await served.AssertStillAnswersAsync();
    }

    [Fact]
    public async Task SlowHeadersAreCutOff()
    {
        // Headers dripped a byte a second: Kestrel closes the connection (answering 408) once the 3 s headers timeout passes.
        using var client = new TcpClient();
        await client.ConnectAsync(served.Url.Host, served.Url.Port, TestContext.Current.CancellationToken);
        var stream = client.GetStream();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var drip = Task.Run(async () =>
        {
            try
            {
                foreach (byte b in "POST /predict HTTP/1.1\r\nHost: localhost\r\nX-Slow: "u8.ToArray().Concat(Enumerable.Repeat((byte)'a', 100)))
                {
                    await stream.WriteAsync(new[] { b }, stop.Token);
                    await Task.Delay(1000, stop.Token);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
            }
        }, TestContext.Current.CancellationToken);
        var buffer = new byte[4096];
        var text = new StringBuilder();
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, stop.Token)) > 0) text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        catch (IOException)
        {
        }
        catch (OperationCanceledException)
        {
            Assert.Fail("the connection was still open after 15 s of dripped headers");
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15));
        Assert.True(text.Length == 0 || text.ToString().StartsWith("HTTP/1.1 408", StringComparison.Ordinal), text.ToString());
        await stop.CancelAsync();
        await drip;
        await served.AssertStillAnswersAsync();
    }
}
