#ifndef THUMBD_RENDER_H
#define THUMBD_RENDER_H

/*
 * `thumbd render [options] -o OUTDIR FILE...`: the engine from the command
 * line, in this one process. @argc/@argv start at "render". Returns the exit
 * status: 0 all written, 1 any file failed, 2 usage error.
 */
int render_main(int argc, char **argv);

#endif
