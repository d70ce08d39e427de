namespace SharpCnn.Kernels;

/// <summary>
/// The plain-loop convolution that the im2col + GEMM path of <see cref="Layers.Conv2d{T}"/>
/// is held to in the tests: the formulas of Conv2d written as directly as possible.
///   y[n,o,u,v]  = b[o] + Σ_{c,i,j} w[o,c,i,j] · xp[n, c, u·s + i, v·s + j]
///   ∂w[o,c,i,j] = Σ_{n,u,v} δ[n,o,u,v] · xp[n, c, u·s + i, v·s + j]
///   ∂b[o]       = Σ_{n,u,v} δ[n,o,u,v]
///   ∂x[n,c,p,q] = Σ_{o,u,v,i,j : u·s + i - top = p, v·s + j - left = q} δ[n,o,u,v] · w[o,c,i,j]
/// (xp = x with zero padding; w is zero where the connection table says unconnected.)
/// </summary>
internal static class ConvolutionReference
{
    public static void Forward(double[] x, double[] w, double[] b, double[] y,
        int n, int cin, int h, int wd, int cout, int kh, int kw, int s, int top, int left, int ho, int wo)
    {
        for (int ni = 0; ni < n; ni++)
            for (int o = 0; o < cout; o++)
                for (int u = 0; u < ho; u++)
                    for (int v = 0; v < wo; v++)
                    {
                        double sum = b[o];
                        for (int c = 0; c < cin; c++)
                            for (int i = 0; i < kh; i++)
                                for (int j = 0; j < kw; j++)
                                {
                                    int p = u * s + i - top, q = v * s + j - left;
                                    if (p < 0 || p >= h || q < 0 || q >= wd) continue;
                                    sum += w[((o * cin + c) * kh + i) * kw + j] * x[((ni * cin + c) * h + p) * wd + q];
                                }
                        y[((ni * cout + o) * ho + u) * wo + v] = sum;
                    }
    }

    public static void Backward(double[] x, double[] w, double[] dy, double[] dx, double[] dw, double[] db,
        int n, int cin, int h, int wd, int cout, int kh, int kw, int s, int top, int left, int ho, int wo)
    {
        Array.Clear(dx);
        Array.Clear(dw);
        Array.Clear(db);
        for (int ni = 0; ni < n; ni++)
            for (int o = 0; o < cout; o++)
                for (int u = 0; u < ho; u++)
                    for (int v = 0; v < wo; v++)
                    {
                        double g = dy[((ni * cout + o) * ho + u) * wo + v];
                        db[o] += g;
                        for (int c = 0; c < cin; c++)
                            for (int i = 0; i < kh; i++)
                                for (int j = 0; j < kw; j++)
                                {
                                    int p = u * s + i - top, q = v * s + j - left;
                                    if (p < 0 || p >= h || q < 0 || q >= wd) continue;
                                    int wi = ((o * cin + c) * kh + i) * kw + j, xi = ((ni * cin + c) * h + p) * wd + q;
                                    dw[wi] += g * x[xi];
                                    dx[xi] += g * w[wi];
                                }
                    }
    }
}
