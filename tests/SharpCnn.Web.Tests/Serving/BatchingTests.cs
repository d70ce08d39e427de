using System.Net.Http.Json;
using System.Text.Json;
using SharpCnn.Web.Serving;

namespace SharpCnn.Web.Tests.Serving;

/// <summary>Dynamic batching: concurrent requests share forward passes and get the answers they would get alone; overload answers 503, never a queue without end.</summary>
[Collection(ServingCollection.Name)]
public sealed class BatchingTests(ServedModel served)
{
    private static (int Label, double[] Probabilities) Answer(JsonElement json)
    {
        var classes = json.GetProperty("classes").EnumerateArray().ToArray();
        return (classes[0].GetProperty("label").GetInt32(), classes.OrderBy(c => c.GetProperty("label").GetInt32()).Select(c => c.GetProperty("probability").GetDouble()).ToArray());
    }

    [Fact]
    public async Task SixtyFourConcurrentClientsGetTheSequentialAnswersInBatchesLargerThanOne()
    {
        const int clients = 64, each = 4;
        var images = Enumerable.Range(0, clients * each).Select(i => served.Png(i % 200)).ToArray();
        var sequential = new (int Label, double[] Probabilities)[images.Length];
        for (int i = 0; i < 200 && i < images.Length; i++)
        {
            var (status, json) = await served.PostAsync(images[i], "?top=10");
            Assert.Equal(200, status);
            sequential[i] = Answer(json);
        }
        long batchesBefore = (await served.Client.GetFromJsonAsync<JsonElement>("/metrics", TestContext.Current.CancellationToken)).GetProperty("batches").GetInt64();

        var concurrent = new (int Label, double[] Probabilities)[images.Length];
        using var start = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            using var client = new HttpClient { BaseAddress = served.Url, Timeout = TimeSpan.FromSeconds(60) }; // one connection per client
            await start.WaitAsync();
            for (int k = 0; k < each; k++)
            {
                int i = c * each + k;
                using var content = new ByteArrayContent(images[i]);
                using var response = await client.PostAsync("/predict?top=10", content);
                Assert.Equal(200, (int)response.StatusCode);
                concurrent[i] = Answer(await response.Content.ReadFromJsonAsync<JsonElement>());
            }
        })).ToArray();
        start.Release(clients);
        await Task.WhenAll(tasks);

        for (int i = 0; i < images.Length; i++)
        {
            var expected = sequential[i % 200];
            Assert.Equal(expected.Label, concurrent[i].Label);
            for (int c = 0; c < 10; c++) Assert.Equal(expected.Probabilities[c], concurrent[i].Probabilities[c], 1e-6);
        }
        var metrics = await served.Client.GetFromJsonAsync<JsonElement>("/metrics", TestContext.Current.CancellationToken);
        long batches = metrics.GetProperty("batches").GetInt64() - batchesBefore;
        Assert.True(metrics.GetProperty("largestBatch").GetInt64() > 1, $"no batch larger than 1: {metrics}");
        Assert.True(batches < images.Length, $"{images.Length} concurrent requests took {batches} forward passes: no batching");
        Assert.True(metrics.GetProperty("largestBatch").GetInt64() <= ServedModel.Options.MaxBatch);
        // Batches of every size from 1 to 32 have run by now: none of their forward passes allocated (buffers sized once, at the largest batch).
        Assert.Equal(0, served.Server.ForwardPassAllocatedBytes);
    }

    [Fact]
    public async Task AFullQueueIs503WithRetryAfterAndAMissedDeadlineIs503()
    {
        // A server of its own with a queue of 2 and a 2 s deadline, its batch worker paused so the queue stays full.
        var options = ServedModel.Options with { MaxQueue = 2, RequestTimeout = TimeSpan.FromSeconds(2) };
        await using var server = ModelServer.Create(Classifier.Load(served.ModelPath), "digits.scnn", options);
        await server.StartAsync(TestContext.Current.CancellationToken);
        using var client = new HttpClient { BaseAddress = new Uri(server.Urls.Single()), Timeout = TimeSpan.FromSeconds(30) };
        server.BatchingRunning = false;
        Task<HttpResponseMessage> Post() => client.PostAsync("/predict", new ByteArrayContent(served.Png(0)));
        var waiting = new[] { Post(), Post() };
        await WaitUntil(() => QueueLength(client).Result == 2);
        using (var full = await Post())
        {
            Assert.Equal(503, (int)full.StatusCode);
            Assert.Equal("1", full.Headers.GetValues("Retry-After").Single());
            Assert.Contains("the server is busy: 2 requests are waiting", await full.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }
        foreach (var late in waiting)
        {
            using var response = await late; // their 2 s deadline passes while the worker is paused
            Assert.Equal(503, (int)response.StatusCode);
            Assert.Contains("no answer within 2 s", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }
        server.BatchingRunning = true;
        // The server answers again. On a machine loaded far past its cores even one image can miss the 2 s
        // deadline, so a few tries are allowed; every miss is a 503 the metrics must count.
        int missed = 0;
        for (int attempt = 0; ; attempt++)
        {
            using var good = await Post();
            if ((int)good.StatusCode == 200) break;
            Assert.Equal(503, (int)good.StatusCode);
            Assert.True(attempt < 4, "five requests in a row missed their deadline after the worker resumed");
            missed++;
        }
        var statuses = (await client.GetFromJsonAsync<JsonElement>("/metrics", TestContext.Current.CancellationToken)).GetProperty("errors");
        Assert.Equal(3 + missed, statuses.GetProperty("503").GetInt64());
    }

    private static async Task<int> QueueLength(HttpClient client) =>
        (await client.GetFromJsonAsync<JsonElement>("/metrics")).GetProperty("queueLength").GetInt32();

    private static async Task WaitUntil(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "timed out waiting");
            await Task.Delay(20);
        }
    }
}
