using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SharpCnn.Web.Live;

/// <summary>What the live page's buttons do to a run (pause, resume, stop).</summary>
public interface ILiveControl
{
    /// <summary>Carries out <paramref name="action"/> ("pause", "resume" or "stop"); returns what happened, or throws <see cref="ArgumentException"/> for an unknown action.</summary>
    string Apply(string action);
}

/// <summary>
/// The live page's web server (Kestrel on 127.0.0.1): <c>GET /</c> the page (wwwroot/live/index.html), <c>GET /live/…</c>
/// its scripts, styles and the vendored chart library, <c>GET /style.css</c>, <c>GET /events</c> the run's
/// server-sent events (<see cref="LiveEventLog"/>: the history so far, then each new event), and <c>POST /control</c>
/// with <c>{"action": "pause" | "resume" | "stop"}</c> (409 when the page replays a finished run and has nothing to control).
/// </summary>
public sealed class LiveServer : IAsyncDisposable
{
    private readonly WebApplication app;

    private LiveServer(WebApplication app, LiveEventLog events, Uri url)
    {
        this.app = app;
        Events = events;
        Url = url;
    }

    /// <summary>The run's events.</summary>
    public LiveEventLog Events { get; }

    /// <summary>The page's address, e.g. http://127.0.0.1:5123/.</summary>
    public Uri Url { get; }

    /// <summary>Starts serving <paramref name="events"/> on 127.0.0.1 at <paramref name="port"/> (0: a free port).</summary>
    /// <param name="events">The run's events.</param>
    /// <param name="control">What the buttons act on, or null for a replay (the buttons are then refused).</param>
    /// <param name="port">The port, 0 for any free one.</param>
    /// <exception cref="ArgumentOutOfRangeException">The port is not 0 to 65535.</exception>
    /// <exception cref="IOException">The port cannot be listened on (in use, not allowed).</exception>
    public static async Task<LiveServer> StartAsync(LiveEventLog events, ILiveControl? control, int port = 0)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, port);
            k.Limits.MaxRequestBodySize = 64 * 1024; // the page only posts {"action": ...}
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        var app = builder.Build();
        app.MapGet("/", () => Asset("live/index.html"));
        app.MapGet("/style.css", () => Asset("style.css"));
        app.MapGet("/live/{**path}", (string path) => Asset("live/" + path));
        app.MapGet("/events", (HttpContext context) => Stream(context, events));
        app.MapPost("/control", (HttpRequest request) => Control(request, control));
        try
        {
            await app.StartAsync();
        }
        catch (IOException e)
        {
            await app.DisposeAsync();
            throw new IOException($"cannot listen on 127.0.0.1:{port}: {e.Message}", e);
        }
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var url = new Uri(new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal)), "/");
        return new LiveServer(app, events, url);
    }

    private static IResult Asset(string name)
    {
        if (name.Contains("..", StringComparison.Ordinal)) return Results.NotFound();
        return WebAssets.Read(name) is { } bytes ? Results.Bytes(bytes, WebAssets.ContentType(name)) : Results.NotFound();
    }

    private static async Task Stream(HttpContext context, LiveEventLog events)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var (history, reader) = events.Subscribe();
        var aborted = context.RequestAborted;
        try
        {
            // A reconnecting page gets the whole history again: "reset" tells it to start over.
            await response.WriteAsync("retry: 2000\nevent: reset\ndata: {}\n\n" + history, aborted);
            await response.Body.FlushAsync(aborted);
            while (await reader.WaitToReadAsync(aborted))
            {
                while (reader.TryRead(out string? text)) await response.WriteAsync(text, aborted);
                await response.Body.FlushAsync(aborted);
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // the page went away
        }
        finally
        {
            events.Unsubscribe(reader);
        }
    }

    private static async Task<IResult> Control(HttpRequest request, ILiveControl? control)
    {
        if (control is null) return Results.Json(new { error = "this page replays a finished run: there is nothing to pause or stop" }, statusCode: 409);
        if (request.ContentLength is > 4096) return Results.Json(new { error = "the request body is over 4096 bytes" }, statusCode: 413);
        string? action;
        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            action = body.RootElement.ValueKind == JsonValueKind.Object && body.RootElement.TryGetProperty("action", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
        }
        catch (JsonException e)
        {
            return Results.Json(new { error = $"the body is not JSON: {e.Message}" }, statusCode: 400);
        }
        if (action is null) return Results.Json(new { error = "expected a JSON object with a string \"action\": pause, resume or stop" }, statusCode: 400);
        try
        {
            return Results.Json(new { state = control.Apply(action) });
        }
        catch (ArgumentException e)
        {
            return Results.Json(new { error = e.Message }, statusCode: 400);
        }
    }

    /// <summary>Ends every event stream and stops the server.</summary>
    public async ValueTask DisposeAsync()
    {
        Events.Close();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
