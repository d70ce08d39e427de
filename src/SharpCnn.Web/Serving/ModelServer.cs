using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SharpCnn.Images;
using SharpCnn.Model;

namespace SharpCnn.Web.Serving;

/// <summary>
/// Serves a trained classifier over HTTP (Kestrel): <c>POST /predict</c> classifies an image (raw body, or the
/// multipart form field <c>image</c>) and answers the top classes as JSON; <c>GET /</c> is a page with the model's
/// summary and a canvas to draw on; <c>GET /model</c>, <c>/health</c> and <c>/metrics</c> (JSON, or Prometheus text
/// with <c>?format=prometheus</c>). Concurrent requests are batched (<see cref="BatchPredictor"/>). Every bound
/// (<see cref="ServeOptions"/>) answers a 4xx or 503 with a JSON <c>{"error": "..."}</c>; nothing a client sends
/// stops the server. Docs: docs/SERVING.md.
/// </summary>
public sealed class ModelServer : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly BatchPredictor predictor;
    private readonly Classifier<float> model;
    private readonly ServeOptions options;
    private readonly string modelName;
    private bool disposed;
    private bool started;

    private ModelServer(Classifier<float> model, string modelName, ServeOptions options)
    {
        this.model = model;
        this.modelName = modelName;
        this.options = options;
        Metrics = new ServeMetrics();
        predictor = new BatchPredictor(model, options.MaxBatch, options.MaxQueue, Metrics);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            Listen(kestrel, options.Host, options.Port);
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(options.MinBodyBytesPerSecond, options.BodyGracePeriod);
            kestrel.Limits.RequestHeadersTimeout = options.HeadersTimeout;
        });
        builder.Services.Configure<FormOptions>(form => form.MultipartBodyLengthLimit = options.MaxBodyBytes);
        app = builder.Build();
        app.Use(Count);
        app.UseStatusCodePages(async context =>
        {
            var response = context.HttpContext.Response;
            string message = response.StatusCode switch
            {
                404 => $"no such endpoint: {context.HttpContext.Request.Path}; try POST /predict, GET /, /model, /health or /metrics",
                405 => $"{context.HttpContext.Request.Method} is not allowed on {context.HttpContext.Request.Path}",
                _ => $"HTTP {response.StatusCode}",
            };
            await response.WriteAsJsonAsync(new { error = message });
        });
        app.MapPost("/predict", Predict);
        app.MapGet("/", () => Asset("serve/index.html"));
        app.MapGet("/serve/{name}", (string name) => Asset("serve/" + name));
        app.MapGet("/style.css", () => Asset("style.css"));
        app.MapGet("/model", Describe);
        app.MapGet("/health", () => Results.Json(new { status = "ok" }));
        app.MapGet("/metrics", (HttpContext context) => context.Request.Query["format"] == "prometheus"
            ? Results.Text(Metrics.Prometheus(predictor.QueueLength), "text/plain; version=0.0.4; charset=utf-8")
            : Results.Json(Metrics.Snapshot(predictor.QueueLength)));
    }

    /// <summary>For tests: pauses (false) or resumes (true) the batch worker.</summary>
    internal bool BatchingRunning
    {
        get => predictor.Running;
        set => predictor.Running = value;
    }

    /// <summary>For tests: bytes the batch worker allocated inside forward passes (see <see cref="BatchPredictor.ForwardPassAllocatedBytes"/>).</summary>
    internal long ForwardPassAllocatedBytes => predictor.ForwardPassAllocatedBytes;

    /// <summary>What the server has counted so far.</summary>
    public ServeMetrics Metrics { get; }

    /// <summary>The addresses the server listens on (with the real port when 0 was asked), once started.</summary>
    public IReadOnlyList<string> Urls => app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToArray() ?? [];

    /// <summary>
    /// Builds a server for <paramref name="model"/> (it becomes the server's: do not use it elsewhere while the server runs).
    /// <paramref name="modelName"/> is what answers name it (e.g. the file name).
    /// </summary>
    /// <exception cref="ArgumentException">An option is out of range, or the model does not take 1- or 3-channel images.</exception>
    public static ModelServer Create(Classifier<float> model, string modelName, ServeOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (model.InputShape.Channels is not (1 or 3))
            throw new ArgumentException($"{modelName} takes {model.InputShape} inputs; the server feeds it images, which have 1 (grey) or 3 (colour) channels");
        return new ModelServer(model, modelName, options);
    }

    /// <summary>Starts listening; returns once the server answers.</summary>
    public async Task StartAsync(CancellationToken cancellation = default)
    {
        if (started) return;
        await app.StartAsync(cancellation);
        started = true;
    }

    /// <summary>Starts (if not yet) and runs until Ctrl-C or SIGTERM (or <paramref name="cancellation"/>), then stops gracefully: requests in flight are answered.</summary>
    public async Task RunAsync(CancellationToken cancellation = default)
    {
        await StartAsync(cancellation);
        await app.WaitForShutdownAsync(cancellation);
    }

    /// <summary>Stops listening, answers the requests in flight, and stops the batch worker.</summary>
    public async ValueTask DisposeAsync()
    {
        if (disposed) return;
        disposed = true;
        try
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await app.StopAsync(bound.Token);
        }
        finally
        {
            await app.DisposeAsync();
            predictor.Dispose();
        }
    }

    private static void Listen(KestrelServerOptions kestrel, string host, int port)
    {
        if (host is "*" or "0.0.0.0" or "+") kestrel.ListenAnyIP(port);
        else if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) kestrel.Listen(IPAddress.Loopback, port);
        else if (IPAddress.TryParse(host, out var address)) kestrel.Listen(address, port);
        else throw new ArgumentException($"the host must be an IP address, localhost or * (every interface), not '{host}'");
    }

    private async Task Count(HttpContext context, RequestDelegate next)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            // Nothing a request does may stop the server: an unexpected failure is one 500 answer.
            await Error(context, 500, $"unexpected {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            Metrics.Answered(context.Response.StatusCode, Stopwatch.GetElapsedTime(start).TotalMilliseconds, context.Request.Path == "/predict");
        }
    }

    private static Task Error(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new { error = message });
    }

    private static IResult Asset(string name) =>
        WebAssets.Read(name) is { } bytes ? Results.Bytes(bytes, WebAssets.ContentType(name)) : Results.Json(new { error = $"no such file: {name}" }, statusCode: 404);

    private IResult Describe() => Results.Json(new
    {
        model = modelName,
        spec = model.Spec,
        input = new { channels = model.InputShape.Channels, height = model.InputShape.Height, width = model.InputShape.Width },
        classes = Enumerable.Range(0, model.Classes).Select(c => new { label = c, name = Name(c) }),
        parameters = model.Network.ParameterCount,
        loss = model.Network.Loss.Name,
        layers = ModelSummary.Rows(model.Network).Select(r => new { index = r.Index, layer = r.Token, output = r.Output.ToString(), parameters = r.Parameters, flops = r.Flops }),
        maxBatch = options.MaxBatch,
        maxBodyBytes = options.MaxBodyBytes,
    });

    private string Name(int c) => model.ClassNames is { } names ? names[c] : c.ToString(CultureInfo.InvariantCulture);

    private async Task Predict(HttpContext context)
    {
        long start = Stopwatch.GetTimestamp();
        var request = context.Request;
        int top = options.DefaultTop;
        if (request.Query.TryGetValue("top", out var topText))
        {
            if (topText.Count != 1 || !int.TryParse(topText[0], NumberStyles.None, CultureInfo.InvariantCulture, out top) || top < 1)
            {
                await Error(context, 400, $"top must be a whole number from 1 to {model.Classes}, not '{topText}'");
                return;
            }
            top = Math.Min(top, model.Classes);
        }
        if (request.ContentLength > options.MaxBodyBytes)
        {
            await Error(context, 413, $"the body has {request.ContentLength} bytes; the most accepted is {options.MaxBodyBytes}");
            return;
        }
        byte[] body;
        try
        {
            body = await ReadImage(request, context.RequestAborted);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e)
        {
            // Kestrel's bounds: a body over the size limit (413), one sent too slowly (408), a malformed one (400).
            await Error(context, e.StatusCode, e.StatusCode switch
            {
                413 => $"the body is larger than the {options.MaxBodyBytes} bytes accepted",
                408 => $"the body came too slowly (under {options.MinBodyBytesPerSecond} bytes/s after {options.BodyGracePeriod.TotalSeconds:0.#} s)",
                _ => e.Message,
            });
            return;
        }
        catch (InvalidDataException e)
        {
            await Error(context, 400, $"the multipart form does not read: {e.Message}");
            return;
        }
        catch (BodyException e)
        {
            await Error(context, e.Status, e.Message);
            return;
        }
        byte[] pixels;
        try
        {
            pixels = ModelImage.Decode(body, "the image", model.InputShape).Pixels.ToArray();
        }
        catch (FileFormatException e)
        {
            // Refused for its declared size (413, the decoder's message) or not an image / cut short / corrupt (400).
            bool tooLarge = ImageDecoder.TryReadDeclaredSize(body, out int w, out int h) && (long)w * h > ImageDecoder.PixelAllowance(body.Length);
            await Error(context, tooLarge ? 413 : 400, e.Problem);
            return;
        }
        var job = new BatchPredictor.Job(pixels);
        if (!predictor.TryEnqueue(job))
        {
            context.Response.Headers.RetryAfter = "1";
            await Error(context, 503, $"the server is busy: {options.MaxQueue} requests are waiting; try again shortly");
            return;
        }
        Prediction prediction;
        try
        {
            prediction = await job.Answer.Task.WaitAsync(options.RequestTimeout, context.RequestAborted);
        }
        catch (TimeoutException)
        {
            job.Answer.TrySetCanceled();
            context.Response.Headers.RetryAfter = "1";
            await Error(context, 503, $"no answer within {options.RequestTimeout.TotalSeconds:0.#} s: the server is overloaded; try again shortly");
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            job.Answer.TrySetCanceled();
            return; // the client went away
        }
        await context.Response.WriteAsJsonAsync(new
        {
            classes = prediction.Top(top).Select(p => new { label = p.Class, name = Name(p.Class), probability = p.Probability }),
            model = modelName,
            milliseconds = Stopwatch.GetElapsedTime(start).TotalMilliseconds,
        });
    }

    private async Task<byte[]> ReadImage(HttpRequest request, CancellationToken cancellation)
    {
        // Only a multipart form is read as one (curl --data-binary sends raw bytes labelled as a urlencoded form).
        if (request.HasFormContentType && request.ContentType!.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase))
        {
            var form = await request.ReadFormAsync(cancellation);
            var file = form.Files.GetFile("image");
            if (file is null)
            {
                if (form.TryGetValue("image", out var text) && text.Count > 0) return System.Text.Encoding.UTF8.GetBytes(text.ToString());
                throw new BodyException(400, "the form has no field 'image': send the image as the form's file field 'image', or as the raw body");
            }
            if (file.Length > options.MaxBodyBytes) throw new BodyException(413, $"the image has {file.Length} bytes; the most accepted is {options.MaxBodyBytes}");
            var bytes = new byte[file.Length];
            await using var stream = file.OpenReadStream();
            await stream.ReadExactlyAsync(bytes, cancellation);
            return bytes;
        }
        using var copy = new MemoryStream(request.ContentLength is long n and > 0 ? (int)n : 4096);
        var buffer = new byte[16384];
        int read;
        while ((read = await request.Body.ReadAsync(buffer, cancellation)) > 0)
        {
            if (copy.Length + read > options.MaxBodyBytes) throw new BodyException(413, $"the body is larger than the {options.MaxBodyBytes} bytes accepted");
            copy.Write(buffer, 0, read);
        }
        if (copy.Length == 0) throw new BodyException(400, "the body is empty: send a JPEG, PNG, WebP, BMP or GIF image");
        return copy.ToArray();
    }

    private sealed class BodyException(int status, string message) : Exception(message)
    {
        public int Status { get; } = status;
    }
}
