/*
 * The dashboard page, built into the binary from src/dashboard.html so the
 * admin server serves it with no files to install.
 */
#include "config.h"

#ifndef CORDIS_DASHBOARD_PATH
#error "CORDIS_DASHBOARD_PATH must name src/dashboard.html"
#endif

__asm__(".section .rodata\n"
        ".global cordis_dashboard_html\n"
        ".type cordis_dashboard_html, @object\n"
        ".balign 16\n"
        "cordis_dashboard_html:\n"
        ".incbin \"" CORDIS_DASHBOARD_PATH "\"\n"
        ".byte 0\n"
        ".size cordis_dashboard_html, . - cordis_dashboard_html\n"
        ".previous\n");
