namespace SharpCnn.Web.Serving;

/// <summary>How a <see cref="ModelServer"/> listens, batches and bounds its requests.</summary>
public sealed record ServeOptions
{
    /// <summary>The address to listen on: an IP address, <c>localhost</c>, or <c>*</c> / <c>0.0.0.0</c> for every interface.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The port to listen on; 0 picks a free one (see <see cref="ModelServer.Urls"/>).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>The most waiting requests one forward pass takes at once.</summary>
    public int MaxBatch { get; init; } = 32;

    /// <summary>The most requests waiting for the model; one more is answered 503 with Retry-After.</summary>
    public int MaxQueue { get; init; } = 1024;

    /// <summary>The largest request body accepted, in bytes; a larger one is answered 413.</summary>
    public long MaxBodyBytes { get; init; } = 8L << 20;

    /// <summary>How long a request may wait for the model (queue and forward pass) before it is answered 503.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The slowest body upload accepted (bytes per second, after <see cref="BodyGracePeriod"/>); a slower one is answered 408.</summary>
    public double MinBodyBytesPerSecond { get; init; } = 240;

    /// <summary>How long a body may upload before <see cref="MinBodyBytesPerSecond"/> is enforced.</summary>
    public TimeSpan BodyGracePeriod { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a client may take to send the request's headers before the connection is closed (408).</summary>
    public TimeSpan HeadersTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Classes returned when a request does not say (<c>?top=k</c>).</summary>
    public int DefaultTop { get; init; } = 3;

    /// <summary>Throws when a setting is out of range; the message names the setting.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535) throw new ArgumentException($"the port must be 0..65535, not {Port}");
        if (MaxBatch < 1) throw new ArgumentException($"the largest batch must be at least 1, not {MaxBatch}");
        if (MaxQueue < 1) throw new ArgumentException($"the queue must hold at least 1 request, not {MaxQueue}");
        if (MaxBodyBytes < 1) throw new ArgumentException($"the largest body must be at least 1 byte, not {MaxBodyBytes}");
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentException($"the request timeout must be positive, not {RequestTimeout}");
        if (!(MinBodyBytesPerSecond > 0)) throw new ArgumentException($"the slowest body rate must be above 0 bytes/s, not {MinBodyBytesPerSecond}");
        if (DefaultTop < 1) throw new ArgumentException($"the default number of classes must be at least 1, not {DefaultTop}");
    }
}
