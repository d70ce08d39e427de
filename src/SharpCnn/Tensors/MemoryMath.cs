using System.Runtime.CompilerServices;

namespace SharpCnn.Tensors;

/// <summary>Byte counts for the memory estimate, in long arithmetic that saturates at <see cref="long.MaxValue"/> instead of overflowing.</summary>
internal static class MemoryMath
{
    /// <summary><paramref name="count"/> x <paramref name="length"/> values of <typeparamref name="TValue"/>, in bytes.</summary>
    public static long Bytes<TValue>(long count, long length) where TValue : unmanaged =>
        Multiply(Multiply(count, length), Unsafe.SizeOf<TValue>());

    /// <summary>a x b for non-negative a and b, or <see cref="long.MaxValue"/> when it would overflow.</summary>
    public static long Multiply(long a, long b)
    {
        if (a < 0 || b < 0) throw new ArgumentOutOfRangeException(a < 0 ? nameof(a) : nameof(b), "sizes are never negative");
        if (a == 0 || b == 0) return 0;
        return a > long.MaxValue / b ? long.MaxValue : a * b;
    }

    /// <summary>a + b for non-negative a and b, or <see cref="long.MaxValue"/> when it would overflow.</summary>
    public static long Add(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    /// <summary>A byte count for people: 1.5 GiB, 300 MiB, 12 KiB, 80 bytes.</summary>
    public static string Format(long bytes)
    {
        if (bytes == long.MaxValue) return "more than 8 EiB";
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? $"{bytes} bytes" : $"{value.ToString(value < 10 ? "0.0" : "0", System.Globalization.CultureInfo.InvariantCulture)} {units[unit]}";
    }
}
