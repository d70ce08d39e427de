using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using SharpCnn.Data;
using SharpCnn.Images;
using SharpCnn.Web.Serving;

namespace SharpCnn.Web.Tests.Serving;

/// <summary>
/// A small CNN trained once (one epoch over the 8,000 bundled training digits, a few seconds) and served in-process on
/// 127.0.0.1 with an ephemeral port; <see cref="Reference"/> is a second copy of the same weights for
/// <see cref="Classifier{T}.Predict(ReadOnlySpan{byte})"/> to compare with. Shared by the serving test classes (one collection, run one after another).
/// </summary>
public sealed class ServedModel : IAsyncLifetime
{
    public const string Spec = "conv5x5x8:same,relu,maxpool2,flatten,dense10";

    /// <summary>Bounds tightened for the tests: the slow-drip body is refused after 2 s of grace.</summary>
    public static ServeOptions Options => new()
    {
        Port = 0,
        MaxBatch = 32,
        MaxQueue = 256,
        MaxBodyBytes = 8L << 20,
        RequestTimeout = TimeSpan.FromSeconds(20),
        BodyGracePeriod = TimeSpan.FromSeconds(2),
        HeadersTimeout = TimeSpan.FromSeconds(3),
    };

    private readonly string folder = Directory.CreateTempSubdirectory("sharpcnn-serve-").FullName;

    public string ModelPath => Path.Combine(folder, "digits.scnn");

    public ModelServer Server { get; private set; } = null!;

    public Classifier<float> Reference { get; private set; } = null!;

    public ImageDataSet Test { get; private set; } = null!;

    public Uri Url { get; private set; } = null!;

    public HttpClient Client { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };

    public async ValueTask InitializeAsync()
    {
        var (train, test) = BundledDigits.Load();
        Test = test;
        var model = Classifier.FromSpec(Spec, train.Shape, seed: 7);
        model.Fit(train, null, Classifier.DefaultTrainingOptions with { Epochs = 1, LearningRate = 0.003 });
        model.Save(ModelPath);
        Reference = Classifier.Load(ModelPath);
        Server = ModelServer.Create(Classifier.Load(ModelPath), "digits.scnn", Options);
        await Server.StartAsync();
        Url = new Uri(Server.Urls.Single());
        Client.BaseAddress = Url;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>Test digit <paramref name="index"/> as a PNG file's bytes.</summary>
    public byte[] Png(int index) => ImageEncoder.Encode(PixelImage.FromDataSet(Test, index), ImageFormat.Png);

    /// <summary>What Classifier.Predict says about the image file <paramref name="bytes"/>, decoded as predict and serve decode it.</summary>
    public Prediction Expected(byte[] bytes) => Reference.Predict(ModelImage.Decode(bytes, "test", Reference.InputShape).Pixels);

    /// <summary>POSTs <paramref name="bytes"/> as the raw body of /predict; the status and the parsed JSON answer.</summary>
    public async Task<(int Status, JsonElement Json)> PostAsync(byte[] bytes, string query = "", string contentType = "image/png")
    {
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new(contentType);
        using var response = await Client.PostAsync("/predict" + query, content);
        return ((int)response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    /// <summary>A good request succeeds and gives the right answer: after every hostile request, the server must still do this.</summary>
    public async Task AssertStillAnswersAsync()
    {
        var (status, json) = await PostAsync(Png(1));
        Assert.Equal(200, status);
        Assert.Equal(Expected(Png(1)).Class, json.GetProperty("classes")[0].GetProperty("label").GetInt32());
        using var health = await Client.GetAsync("/health");
        Assert.Equal(200, (int)health.StatusCode);
    }

    /// <summary>
    /// Sends <paramref name="head"/> (request line and headers) over a raw socket, then runs <paramref name="send"/> to write the body
    /// (its failures once the server has closed are ignored), and reads the response's status line: the status, how long it took, and the response text read.
    /// </summary>
    public async Task<(int Status, TimeSpan Elapsed, string Text)> RawAsync(string head, Func<NetworkStream, CancellationToken, Task> send, TimeSpan bound)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(Url.Host, Url.Port);
        var stream = client.GetStream();
        var clock = Stopwatch.StartNew();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var stop = new CancellationTokenSource(bound);
        var sending = Task.Run(async () =>
        {
            try
            {
                await send(stream, stop.Token);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // the server closed the connection, as it may after answering
            }
        });
        var text = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            while (!text.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                int n = await stream.ReadAsync(buffer, stop.Token);
                if (n == 0) break;
                text.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
            // The body, if it came in the same breath (the JSON error).
            if (stream.DataAvailable)
            {
                int n = await stream.ReadAsync(buffer, stop.Token);
                text.Append(Encoding.UTF8.GetString(buffer, 0, n));
            }
        }
        catch (IOException) when (text.Length > 0)
        {
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"no answer within {bound.TotalSeconds} s; read so far: '{text}'");
        }
        var elapsed = clock.Elapsed;
        await stop.CancelAsync();
        client.Close();
        await sending;
        string all = text.ToString();
        Assert.True(all.StartsWith("HTTP/1.1 ", StringComparison.Ordinal), $"not an HTTP answer: '{all}'");
        return (int.Parse(all.AsSpan(9, 3)), elapsed, all);
    }
}

[CollectionDefinition(Name)]
public sealed class ServingCollection : ICollectionFixture<ServedModel>
{
    public const string Name = "served model";
}
